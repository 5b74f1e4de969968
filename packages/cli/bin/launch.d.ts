/** What the bins load from the CLI package directory `cli`: the start-up bundle when current, else dist/. */
export function entryFor(cli: URL): URL;
export function launch(name: 'xcatimport' | 'xcatexport' | 'imgport'): Promise<void>;
/** The start-up bundle compiled with its code cache; `saveCache` writes the cache of what ran so far. */
export function loadBundle(entry: URL): { mod: Record<string, (argv: string[], env?: NodeJS.ProcessEnv) => Promise<number>>; saveCache(): void };
