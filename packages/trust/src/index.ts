export * from './wire.js';
export * from './keys.js';
export * from './private-key.js';
export * from './sshsig.js';
export * from './certificates.js';
export * from './allowed-signers.js';

/** The sshsig namespace of imgport bundle signatures (`ssh-keygen -Y sign -n imgport-bundle`). */
export const BUNDLE_NAMESPACE = 'imgport-bundle';
