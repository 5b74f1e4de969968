/** The owner identity of journals and locks lives in @imgport/runtime (the store's leases use it too). */
export { currentOwner, describeOwner, ownerState, processStart, sameOwner, type Owner } from '@imgport/runtime';
