import type { DataSource } from 'typeorm';
import { User } from '../entities';
import { Ledger } from './ledger';

export interface NewUser {
  displayName: string;
  timeZone?: string;
}

/** Users and their wallets: a user never exists without one. */
export class UserDirectory {
  private readonly ledger: Ledger;

  constructor(private readonly dataSource: DataSource) {
    this.ledger = new Ledger(dataSource);
  }

  async findById(id: string): Promise<User | null> {
    return this.dataSource.getRepository(User).findOneBy({ id });
  }

  async create(input: NewUser & { id?: string }): Promise<User> {
    return this.dataSource.transaction(async (tx) => {
      const user = tx.getRepository(User).create({
        ...(input.id ? { id: input.id } : {}),
        displayName: input.displayName,
        timeZone: input.timeZone ?? 'UTC',
      });
      await tx.getRepository(User).save(user);
      await this.ledger.openWallet(user.id, tx);
      return user;
    });
  }
}
