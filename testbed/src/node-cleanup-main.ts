// Run by a node's watchdog (testbed/src/node.ts) after the process that started the node died
// without calling stop(): removes the node's pods, mounts, cgroups, network namespace and files,
// unless the slot has a new owner by now.
import { cleanUpAbandonedSlot } from './node.ts';

const [slot, owner] = process.argv.slice(2).map(Number);
if (!slot || !owner) {
  console.error('usage: node-cleanup-main.ts <slot> <owner pid>');
  process.exit(2);
}
await cleanUpAbandonedSlot(slot, owner);
