/** What the bins load from the CLI package directory `cli`: the start-up bundle when current, else dist/. */
export function entryFor(cli: URL): URL;
export function launch(name: 'xcatimport' | 'xcatexport' | 'imgport'): Promise<void>;
