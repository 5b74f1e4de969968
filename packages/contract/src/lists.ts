/** The list columns an image may carry as files (SPEC §3.1), in the order bundles write them. */
export const LIST_KINDS = ['pkglist', 'otherpkglist', 'exlist', 'postinstall', 'synclists'] as const;
export type ListKind = (typeof LIST_KINDS)[number];
