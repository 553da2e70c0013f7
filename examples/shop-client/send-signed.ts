/**
 * A shop that holds its own key sends one points accrual, follows it to `delivered`, and checks the
 * switch's anchoring proof against the consortium's validator set, trusting no node.
 *
 *   LOULAN_SWITCH=http://127.0.0.1:26680 LOULAN_KEY_FILE=.data/local/participants/cn.loulan.shop.demo.json \
 *   LOULAN_GENESIS=.data/local/chain/genesis.json npx node examples/shop-client/send-signed.ts
 *
 * The key file is what `loulan participant add --new-key-file` (or `loulan up`) writes:
 * {"id", "alg", "kid", "privateKey", "publicKey"}.
 */
import { readFileSync } from 'node:fs';
import { createSigner, fromHex } from '../../core-chain/index.ts';
import { createShopClient } from '../../adapters/rest/index.ts';
import { trustedSetFromGenesis } from './trust.ts';

const key = JSON.parse(readFileSync(process.env['LOULAN_KEY_FILE']!, 'utf8')) as { id: string; alg: 'Ed25519'; kid: string; privateKey: string };
const shop = createShopClient({
  switchUrl: process.env['LOULAN_SWITCH'] ?? 'http://127.0.0.1:26680',
  participant: key.id,
  signer: createSigner(key.alg, fromHex(key.privateKey), { kid: key.kid }),
});

const orderId = `order-${Date.now()}`;
const sent = await shop.send({
  id: `accrual-${orderId}`, // keep the id: sending it again is answered `duplicate: true`, never a second message
  type: 'points.accrual',
  to: 'cn.loulan.partner.demo.accruals',
  seq: Date.now(),
  data: {
    orderId,
    account: { program: 'cn.loulan.partner.demo', member: 'member-1' },
    purchase: { amount: '12800', currency: 'CNY' },
    points: '128',
    purchasedAt: new Date().toISOString(),
  },
});
console.log(`accepted ${sent.id} (digest ${sent.digest.slice(0, 12)}...)`);

// Follow it: the status stream says when the loyalty program has it.
await new Promise<void>((resolve) => {
  const stop = shop.subscribe(
    (event) => {
      if (event.id !== sent.id) return;
      console.log(`  ${event.status}`);
      if (event.status === 'delivered' || event.status === 'dead') {
        stop();
        resolve();
      }
    },
    { cursor: 0 },
  );
});

// The proof: the switch anchored the message in a block certified by the validators.
const trusted = trustedSetFromGenesis(process.env['LOULAN_GENESIS']!);
for (;;) {
  try {
    const verified = shop.verifyProof(await shop.proof(sent.id), trusted, sent.envelope);
    console.log(`proof ok: accepted at height ${verified.accepted.header.height}${verified.delivered === undefined ? '' : `, delivered at height ${verified.delivered.header.height}`}`);
    break;
  } catch (error) {
    if ((error as { code?: string }).code !== 'MESSAGE_NOT_ANCHORED') throw error;
    await new Promise((resolve) => setTimeout(resolve, 250)); // anchored within a second or two
  }
}
