import { Client, Connection } from '@temporalio/client';

/** One Temporal client per process. */
export async function connectTemporalClient(options: { address: string; namespace: string }): Promise<Client> {
  const connection = await Connection.connect({ address: options.address });
  return new Client({ connection, namespace: options.namespace });
}
