/** Operation codes of tree-ops.ts batches, shared with the worker (which must stay light). */
export const Op = { Mkdir: 1, Open: 2, Data: 3, Close: 4, Symlink: 5, Link: 6, Unlink: 7, Mknod: 8, DirMeta: 9, Fence: 10 } as const;
export type Op = (typeof Op)[keyof typeof Op];

/** Flags of Close / Symlink / Mknod / DirMeta. */
export const Meta = { Chown: 1, Chmod: 2, Times: 4 } as const;

/** Slots of the Int32Array both workers share: batches done by worker 0 and 1, and a stop flag. */
export const Shared = { Stop: 2, Length: 3 } as const;
