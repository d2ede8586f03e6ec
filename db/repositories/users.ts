import { randomInt } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { User } from '../entities';
import { Ledger } from './ledger';

/** Letters only, without vowels (no accidental words) and without digits (nothing that reads like a number). */
const TAG_LETTERS = 'BCDFGHJKLMNPQRSTVWXZ';

/**
 * The display name a new account starts with, whatever it signed in with: "Aura user" and a
 * random four-letter tag. Nothing from the phone number or the provider account, which would
 * otherwise show to everyone in a room.
 */
export function newUserDisplayName(): string {
  let tag = '';
  for (let i = 0; i < 4; i++) tag += TAG_LETTERS[randomInt(TAG_LETTERS.length)];
  return `Aura user ${tag}`;
}

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
