/**
 * Gas per gateway operation, measured on a real anvil with the committed artefacts.
 *
 *   npm run bench:evm             readable table
 *   npm run bench:evm -- --json   the same table, then one JSON object as the last line
 *
 * Every figure is a mined transaction's gasUsed. "exec" is gasUsed minus the intrinsic cost
 * (21,000 + calldata at 16 gas per non-zero and 4 per zero byte), i.e. what the contract code
 * spends. The headline `verifyCertificateGas` is LoulanGateway.verifyEvent (a view function sent as
 * a transaction) for a 3-of-4 certificate plus an event proof in a block of 3 events (a 2-hash
 * path), counted as gasUsed - 21,000: execution plus the calldata of header, certificate, members,
 * event and path. The target is 60,000.
 *
 * JSON: { node, target, verifyCertificateGas, verifyCertificateExecGas, verifyCertificateCalldataGas,
 *         ratioToTarget, operations: [{op, gasUsed, calldataGas, execGas}] }
 */
import { Contract, JsonRpcProvider, NonceManager, Wallet, encodeBytes32String, getBytes, type TransactionReceipt, type TransactionResponse } from 'ethers';
import { holdArgs, memberAddresses, mintArgs, packSetKeys, releaseArgs, tokenIdArgs, certificateArg } from '../adapters/evm/codec.ts';
import { GATEWAY_ID, block, decisionEvent, decisionId, deployGateway, otherEvent, proofOf, vectorSet } from '../adapters/evm/gateway.fixture.ts';
import { certify } from '../test/vectors/loulan/kit.ts';
import { DecisionAction, type Decision } from '../relayers/decision.ts';
import { startAnvil } from '../test/support/anvil.ts';

const TARGET = 60_000;
const json = process.argv.includes('--json');

interface Row {
  op: string;
  gasUsed: number;
  calldataGas: number;
  execGas: number;
}

function calldataGas(data: string): number {
  let gas = 0;
  for (const b of getBytes(data)) gas += b === 0 ? 4 : 16;
  return gas;
}

const anvil = await startAnvil();
try {
  const provider = new JsonRpcProvider(anvil.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
  const relayer = new NonceManager(new Wallet(anvil.privateKeys[0] as string, provider));
  const alice = new Wallet(anvil.privateKeys[1] as string, provider);
  const bob = new Wallet(anvil.privateKeys[2] as string, provider);
  const node = String(await anvil.rpc('web3_clientVersion'));
  const A = vectorSet(['a0', 'a1', 'a2', 'a3']);
  const rows: Row[] = [];

  const measure = async (op: string, sent: Promise<TransactionResponse>): Promise<Row> => {
    const tx = await sent;
    const receipt = (await tx.wait()) as TransactionReceipt;
    const cd = calldataGas(tx.data);
    const gasUsed = Number(receipt.gasUsed);
    const row = { op, gasUsed, calldataGas: cd, execGas: gasUsed - 21_000 - cd };
    rows.push(row);
    return row;
  };

  const deployStart = await provider.getBlockNumber();
  const d = await deployGateway(relayer, A);
  const deployReceipt = await provider.getTransactionReceipt((await provider.getBlock(deployStart + 1, true))?.transactions[0] as string);
  rows.push({ op: 'deploy gateway + both tokens', gasUsed: Number(deployReceipt?.gasUsed ?? 0n), calldataGas: 0, execGas: 0 });

  let height = 100n;
  let n = 0;
  const decide = (action: Decision['action'], args: Uint8Array): Decision => ({
    decisionId: decisionId(`bench-${n++}`),
    target: GATEWAY_ID,
    action,
    deadline: 1n << 62n,
    args,
  });
  const proof = (dec: Decision, set = A, signers?: number[], events = 3) => {
    height += 1n;
    const list = [decisionEvent(dec), ...Array.from({ length: events - 1 }, (_, i) => otherEvent(i))];
    return proofOf(block(height, set, list), 0, set, signers);
  };
  const gateway = d.gateway;
  const execute = (op: string, dec: Decision) => measure(op, gateway.getFunction('execute')(proof(dec)));

  // The headline: verify only (no state change), 3 of 4, event 0 of 3.
  const verify34 = await measure('verifyEvent 3-of-4, event 0 of 3', gateway.getFunction('verifyEvent').send(proof(decide(DecisionAction.MINT, new Uint8Array(0)))));
  await measure('verifyEvent 4-of-4, event 0 of 3', gateway.getFunction('verifyEvent').send(proof(decide(DecisionAction.MINT, new Uint8Array(0)), A, [0, 1, 2, 3])));
  await measure('verifyEvent 3-of-4, event 0 of 64', gateway.getFunction('verifyEvent').send(proof(decide(DecisionAction.MINT, new Uint8Array(0)), A, undefined, 64)));

  const pointsAddress = await d.points.getAddress();
  await execute('execute MINT points', decide(DecisionAction.MINT, mintArgs(pointsAddress, alice.address, 1_000_000n)));
  const points = d.points.connect(alice) as Contract;
  await measure('points transfer (ERC-20)', points.getFunction('transfer')(bob.address, 10n));
  const refs = ['r1', 'r2', 'r3'].map((r) => encodeBytes32String(r));
  for (const ref of refs) await measure('points hold (holder)', points.getFunction('hold')(100n, ref));
  const holdIds = await Promise.all(refs.map((ref) => d.points.getFunction('holdIdOf')(alice.address, ref) as Promise<string>));
  await execute('execute RELEASE', decide(DecisionAction.RELEASE, releaseArgs(holdIds[0] as string, bob.address)));
  await execute('execute REFUND', decide(DecisionAction.REFUND, holdArgs(holdIds[1] as string)));
  await execute('execute BURN', decide(DecisionAction.BURN, holdArgs(holdIds[2] as string)));
  await execute('execute MINT receivable', decide(DecisionAction.MINT, mintArgs(await d.receivables.getAddress(), alice.address, 1n)));
  await execute('execute LOCK', decide(DecisionAction.LOCK, tokenIdArgs(1n)));
  await execute('execute POOL', decide(DecisionAction.POOL, tokenIdArgs(1n)));
  await execute('execute UNLOCK', decide(DecisionAction.UNLOCK, tokenIdArgs(1n)));

  const B = vectorSet(['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6']);
  height += 1n;
  const changeBlock = block(height, A, [otherEvent(0)], { nextValidatorSetHash: B.hash });
  await measure(
    'changeValidatorSet 4 → 7',
    gateway.getFunction('changeValidatorSet')(changeBlock.headerBytes, certificateArg(certify(A, changeBlock.header, [0, 1, 2])), memberAddresses(A.publicKeys), packSetKeys(B.publicKeys)),
  );
  await measure('verifyEvent 5-of-7, event 0 of 3', gateway.getFunction('verifyEvent').send(proof(decide(DecisionAction.MINT, new Uint8Array(0)), B)));

  const headers = ['operation', 'gasUsed', 'calldata', 'exec'];
  const lines = rows.map((r) => [r.op, r.gasUsed.toLocaleString('en-US'), r.calldataGas.toLocaleString('en-US'), r.execGas.toLocaleString('en-US')]);
  const widths = headers.map((_, i) => Math.max(...[headers, ...lines].map((l) => (l[i] ?? '').length)));
  const fmt = (l: string[]): string => l.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  console.log(`node: ${node}`);
  console.log([fmt(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt)].join('\n'));
  const verifyCertificateGas = verify34.gasUsed - 21_000;
  const ratio = verifyCertificateGas / TARGET;
  console.log('');
  console.log(
    `verifyCertificateGas (3-of-4 + event proof, gasUsed - 21,000): ${verifyCertificateGas.toLocaleString('en-US')} ` +
      `= ${(ratio * 100).toFixed(1)}% of the ${TARGET.toLocaleString('en-US')} target ` +
      `(execution ${verify34.execGas.toLocaleString('en-US')} + calldata ${verify34.calldataGas.toLocaleString('en-US')})`,
  );
  if (json) {
    console.log(
      JSON.stringify({
        node,
        target: TARGET,
        verifyCertificateGas,
        verifyCertificateExecGas: verify34.execGas,
        verifyCertificateCalldataGas: verify34.calldataGas,
        ratioToTarget: Number(ratio.toFixed(4)),
        operations: rows,
      }),
    );
  }
} finally {
  await anvil.stop();
}
