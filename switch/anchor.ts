/**
 * Anchoring: the switch commits what it accepted and delivered to the core chain, so that a sender
 * can later prove when its message was accepted and when it was delivered, to anyone, without
 * trusting the switch or any single validator.
 *
 * The store writes one 32-byte leaf per acceptance and per delivery (`anchorLeaf`), numbered in
 * order, atomically with the state change it attests. This service cuts the leaves into batches,
 * commits each batch's RFC 6962 root with `xmsg.anchor(switchId, batchSeq, root, count)`, and answers
 * proof requests: leaf → batch root (audit path) → the `anchored` event (event proof) → a header and
 * its commit certificate, which `verifyAnchorProof` in core-chain/verify checks.
 *
 * Crash safety: a batch is recorded (`anchor/batch/<seq>`: leaf range and root) before it is
 * submitted, and marked anchored after its commit. On restart, a recorded but unanchored batch is
 * submitted again with the same root; the contract refuses a second (switchId, batchSeq), and that
 * refusal, checked against the stored root, counts as success. Leaves are never re-cut, so a leaf
 * belongs to exactly one batch.
 */
import {
  anchorProofToJson,
  decodeCertificateJson,
  decodeBatchRecord,
  decodeXmsgEvent,
  encodeAnchorArgs,
  fromHex,
  xmsgBatchKey,
  LoulanError,
  toHex,
  type CoreClient,
  type TxSubmitter,
  type AnchorProofJson,
} from '../core-chain/index.ts';
import { inclusionProofFromLeafHashes, leafHash, merkleRoot } from '../core-chain/crypto/merkle.ts';
import type { MessageRecord } from './model.ts';
import type { SwitchStore } from './store.ts';

export interface AnchorBatch {
  readonly seq: number;
  /** Leaf numbers `from` (inclusive) to `to` (exclusive). */
  readonly from: number;
  readonly to: number;
  /** Hex root over the leaves. */
  readonly root: string;
  /** Set once committed: the block and the event that anchors it. */
  anchored?: { readonly height: string; readonly eventIndex: number; readonly txHash: string };
}

interface AnchorState {
  /** First leaf not yet in a batch. */
  nextLeaf: number;
  nextSeq: number;
}

export interface AnchorServiceOptions {
  readonly store: SwitchStore;
  readonly client: CoreClient;
  readonly submitter: TxSubmitter;
  readonly switchId: string;
  /** How often a batch is cut when leaves are waiting. Default 1 s. */
  readonly intervalMs?: number;
  /** Most leaves per batch. Default 50,000. */
  readonly maxLeaves?: number;
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

/** The proof of one message event, as `GET /v1/messages/:id/proof` returns it. */
export interface MessageEventProof {
  readonly kind: 'accepted' | 'delivered';
  readonly digest: string;
  /** Unix ms the leaf commits to (acceptedAt, or the delivery receipt's time). */
  readonly at: number;
  readonly switchId: string;
  readonly batchSeq: number;
  readonly proof: AnchorProofJson;
}

export class AnchorService {
  readonly #o: AnchorServiceOptions;
  readonly #batches: AnchorBatch[] = [];
  #state: AnchorState = { nextLeaf: 0, nextSeq: 0 };
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  lastError: string | undefined;

  constructor(options: AnchorServiceOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    this.#state = (await this.#o.store.getNamed<AnchorState>('anchor/state')) ?? { nextLeaf: 0, nextSeq: 0 };
    for await (const { value } of this.#o.store.named<AnchorBatch>('anchor/batch/')) this.#batches.push(value);
    this.#batches.sort((a, b) => a.seq - b.seq);
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#running?.catch(() => undefined);
  }

  /** Batches cut but not yet committed. */
  get unanchored(): number {
    return this.#batches.filter((b) => b.anchored === undefined).length;
  }

  /** Runs one round now (cut, then submit what is unanchored), after any round in progress; for tests and shutdown. */
  async flush(): Promise<void> {
    await this.#nextRound();
  }

  /** The proofs for a message's acceptance and (once delivered) its delivery; throws MESSAGE_NOT_ANCHORED before the first. */
  async proof(record: MessageRecord): Promise<{ accepted: MessageEventProof; delivered?: MessageEventProof }> {
    const accepted = record.anchors?.accepted;
    if (accepted === undefined) throw notAnchored(record);
    const a = await this.#leafProof(record, 'accepted', accepted, record.acceptedAt);
    if (a === undefined) throw notAnchored(record);
    const d = record.anchors?.delivered === undefined || record.receipt === undefined ? undefined : await this.#leafProof(record, 'delivered', record.anchors.delivered, record.receipt.at);
    return d === undefined ? { accepted: a } : { accepted: a, delivered: d };
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#nextRound()
        .catch((error: unknown) => {
          this.lastError = error instanceof Error ? error.message : String(error);
          this.#o.log?.('warn', 'anchoring round failed; retrying', { error: this.lastError });
        })
        .finally(() => this.#schedule(this.#o.intervalMs ?? 1_000));
    }, ms);
    this.#timer.unref();
  }

  /** A round that starts once the one in progress ends: two at once would cut the same leaves into two batches. */
  #nextRound(): Promise<void> {
    const round = (this.#running ?? Promise.resolve()).catch(() => undefined).then(() => this.#round());
    this.#running = round;
    return round;
  }

  async #round(): Promise<void> {
    await this.#cut();
    for (const batch of this.#batches) {
      if (this.#stopped) return;
      if (batch.anchored === undefined) await this.#submit(batch);
    }
  }

  async #cut(): Promise<void> {
    const { store } = this.#o;
    const max = this.#o.maxLeaves ?? 50_000;
    while (store.leafCount > this.#state.nextLeaf) {
      const from = this.#state.nextLeaf;
      const to = Math.min(store.leafCount, from + max);
      const leaves = await store.leaves(from, to);
      if (leaves.length !== to - from) throw new LoulanError('SWITCH_STORE_FAILED', `anchoring leaves ${from}..${to} are incomplete`);
      const batch: AnchorBatch = { seq: this.#state.nextSeq, from, to, root: toHex(merkleRoot(leaves.map((l) => l.leaf))) };
      this.#state = { nextLeaf: to, nextSeq: batch.seq + 1 };
      await store.put([
        { name: `anchor/batch/${String(batch.seq).padStart(12, '0')}`, value: batch },
        { name: 'anchor/state', value: this.#state },
      ]);
      this.#batches.push(batch);
    }
  }

  async #submit(batch: AnchorBatch): Promise<void> {
    const args = encodeAnchorArgs({ switchId: this.#o.switchId, batchSeq: BigInt(batch.seq), root: fromHex(batch.root), count: batch.to - batch.from });
    const result = await this.#o.submitter.call('xmsg', 'anchor', args);
    if (result.status.status !== 'committed' || result.status.height === undefined) return; // not yet: next round
    let height = result.status.height;
    if (result.status.receipt?.status !== 'ok') {
      // Anchored before a restart lost the record of it: the chain's batch record says where,
      // and counts only if it holds this very root.
      const stored = result.status.receipt?.code === 'CONTRACT_ALREADY_EXISTS' ? await this.#o.client.getState(xmsgBatchKey(this.#o.switchId, BigInt(batch.seq))) : undefined;
      const record = stored === undefined ? undefined : decodeBatchRecord(stored);
      if (record === undefined || toHex(record.root) !== batch.root) {
        throw new LoulanError('DELIVER_REJECTED', `xmsg.anchor of batch ${batch.seq} failed: ${result.status.receipt?.code ?? 'unknown'}`, { details: { batch: batch.seq } });
      }
      height = record.height;
    }
    const txHash = result.hash;
    const found = await this.#findEvent(height, batch);
    if (found === undefined) throw new LoulanError('MESSAGE_NOT_ANCHORED', `the anchored event of batch ${batch.seq} was not found at height ${height}`);
    batch.anchored = { height: height.toString(), eventIndex: found, txHash };
    await this.#o.store.put([{ name: `anchor/batch/${String(batch.seq).padStart(12, '0')}`, value: batch }]);
    this.#o.log?.('info', 'anchored batch', { seq: batch.seq, leaves: batch.to - batch.from, height: height.toString() });
  }

  /** The index of this batch's `anchored` event in the block at `height`. */
  async #findEvent(height: bigint, batch: AnchorBatch): Promise<number | undefined> {
    const block = await this.#o.client.getBlock(height);
    const count = block?.header.eventCount ?? 0;
    for (let i = 0; i < count; i++) {
      const event = await this.#o.client.getEvent(height, i);
      if (event === null || event.contract !== 'xmsg' || event.name !== 'anchored') continue;
      const decoded = decodeXmsgEvent('anchored', fromHex(event.data));
      if (decoded.type === 'anchored' && decoded.switchId === this.#o.switchId && decoded.batchSeq === BigInt(batch.seq)) return i;
    }
    return undefined;
  }

  async #leafProof(record: MessageRecord, kind: 'accepted' | 'delivered', leaf: number, at: number): Promise<MessageEventProof | undefined> {
    const batch = this.#batches.find((b) => b.from <= leaf && leaf < b.to);
    if (batch?.anchored === undefined) return undefined;
    const leaves = (await this.#o.store.leaves(batch.from, batch.to)).map((l) => l.leaf);
    const index = leaf - batch.from;
    const height = BigInt(batch.anchored.height);
    const event = await this.#o.client.getEvent(height, batch.anchored.eventIndex, { proof: true });
    if (event === null || event.proof === undefined) return undefined;
    const proof = anchorProofToJson({
      leaf: leaves[index]!,
      leafIndex: index,
      batchPath: inclusionProofFromLeafHashes(leaves.map(leafHash), index),
      event: fromHex(event.encoded),
      eventIndex: batch.anchored.eventIndex,
      eventPath: event.proof.path.map((p) => fromHex(p)),
      headerBytes: fromHex(event.proof.header.headerBytes),
      certificate: decodeCertificateJson(event.proof.header.certificate),
    });
    return { kind, digest: record.digest, at, switchId: this.#o.switchId, batchSeq: batch.seq, proof };
  }
}

function notAnchored(record: MessageRecord): LoulanError {
  return new LoulanError('MESSAGE_NOT_ANCHORED', `message ${record.id} is not anchored yet`, { details: { id: record.id, source: record.source } });
}
