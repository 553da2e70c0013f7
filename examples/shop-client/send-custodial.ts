/**
 * A shop whose key the switch holds (custody) sends with its API key: no key material at the shop.
 *
 *   LOULAN_SWITCH=http://127.0.0.1:26680 LOULAN_PARTICIPANT=cn.loulan.shop.acme LOULAN_API_KEY=lk_... \
 *   npx node examples/shop-client/send-custodial.ts
 *
 * The API key comes from `loulan participant add ID --roles shop --custodial ...` (shown once).
 */
import { createShopClient } from '../../adapters/rest/index.ts';

const shop = createShopClient({
  switchUrl: process.env['LOULAN_SWITCH'] ?? 'http://127.0.0.1:26680',
  participant: process.env['LOULAN_PARTICIPANT']!,
  apiKey: process.env['LOULAN_API_KEY']!,
});

const orderId = `order-${Date.now()}`;
try {
  const sent = await shop.send({
    id: `accrual-${orderId}`,
    type: 'points.accrual',
    to: 'cn.loulan.partner.demo.accruals',
    seq: Date.now(),
    data: {
      orderId,
      account: { program: 'cn.loulan.partner.demo', member: 'member-7' },
      purchase: { amount: '4500', currency: 'CNY' },
      points: '45',
      purchasedAt: new Date().toISOString(),
    },
  });
  console.log(`accepted ${sent.id}, signed by the switch with ${sent.envelope.sig?.kid}`);
  const status = await shop.status(sent.id);
  console.log(`status: ${status.status}`);
} catch (error) {
  // Every refusal carries a stable code and, where a field failed, a JSON pointer.
  const e = error as { code?: string; details?: Record<string, unknown> };
  console.error(`refused: ${e.code} ${JSON.stringify(e.details ?? {})}`);
  process.exitCode = 1;
}
