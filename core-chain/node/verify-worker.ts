/** Worker side of VerifyPool: decode each transaction and check its signature. */
import { parentPort } from 'node:worker_threads';
import { decodeTx, verifyEncodedTxSignature } from '../ledger/tx.ts';

parentPort!.on('message', (msg: { id: number; txs: Uint8Array[] }) => {
  const ok = msg.txs.map((bytes) => {
    try {
      return verifyEncodedTxSignature(decodeTx(bytes), bytes);
    } catch {
      return false;
    }
  });
  parentPort!.postMessage({ id: msg.id, ok });
});
