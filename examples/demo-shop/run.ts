/**
 * The demo shop as `loulan up` runs it: its own PostgreSQL (npm-packaged binaries, data kept in the
 * consortium folder), the connector's tables and the shop's, the database connector, and the web shop.
 * Everything here is what a real shop runs, in one process for convenience.
 */
import pg from 'pg';
import { createSigner, fromHex } from '../../core-chain/index.ts';
import { loadConnectorConfig, migrate, startConnector, startEmbeddedPostgres } from '../../adapters/db/index.ts';
import type { ConsortiumLayout, DemoShopLayout } from '../../cli/consortium.ts';
import { migrateDemoShop, startDemoShop } from './shop.ts';

export interface RunningDemo {
  readonly shopUrl: string;
  readonly connectorUrl: string;
  readonly databaseUrl: string;
  close(): Promise<void>;
}

export async function runDemoShop(layout: ConsortiumLayout & { readonly demoShop: DemoShopLayout }): Promise<RunningDemo> {
  const demo = layout.demoShop;
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const db = await startEmbeddedPostgres({ dir: demo.dbDir, port: demo.dbPort, password: demo.dbPassword });
    closers.push(() => db.stop());
    const config = loadConnectorConfig(demo.connectorConfigFile);
    const client = new pg.Client({ connectionString: config.databaseUrl });
    await client.connect();
    try {
      await migrate(client, config.names);
      await migrateDemoShop(client);
    } finally {
      await client.end();
    }
    const connector = await startConnector(config);
    closers.push(() => connector.close());
    const { shop, program } = layout;
    const app = await startDemoShop({
      databaseUrl: config.databaseUrl,
      names: config.names,
      switchUrl: layout.switchUrl,
      participant: shop.id,
      signer: createSigner(shop.alg, fromHex(shop.privateKey), { kid: shop.kid }),
      program: program.id,
      port: demo.port,
    });
    closers.push(() => app.close());
    return { shopUrl: app.url, connectorUrl: connector.url, databaseUrl: config.databaseUrl, close };
  } catch (error) {
    await close();
    throw error;
  }
}
