import type { DataSource } from 'typeorm';
import { Ledger } from '../../db/repositories/ledger';
import { MedalRecords } from '../../db/repositories/medals';
import { localizedName, preferredLanguage } from '../../domain/economy/catalog';
import { AppError, ErrorCode } from '../../domain/errors';
import { checkDisplayChoice, medalsDue, withHint, type MedalDefinition, type MedalFacts } from '../../domain/medals/medals';
import type { Logger } from '../../platform/logging';
import type { Notifier } from '../notifications/notifier';
import type { ProgressEvent, ProgressListener } from '../progress';

export interface MedalSettings {
  /** Medals a profile shows at most (3..5). */
  displaySlots: number;
  /** How long this process trusts its copy of the definitions. */
  definitionsTtlMs?: number;
}

/** The idempotency key of a medal's reward entry and of its notification. */
export const medalKey = (userId: string, medalId: string) => `medal:${userId}:${medalId}`;

export interface MedalView {
  id: string;
  category: string;
  name: string;
  names: Record<string, string>;
  description: string;
  iconKey: string;
  criteria: MedalDefinition['criteria'];
  reward: MedalDefinition['reward'];
}

export interface RecheckResult {
  usersChecked: number;
  medalsAwarded: number;
  medalsAnnounced: number;
}

/**
 * Awards medals. Every path ends in `evaluate(userId)`: read the user's facts from the records
 * (claims, purchases, the users row the gift send keeps), award each medal now due and not held.
 * An award, its reward (coins through the ledger, keyed medal:<userId>:<medalId>, or an item)
 * commit together, at most once (user_medals' primary key); the notification follows and is
 * marked sent, so a lost one is sent again by the re-check with the same key.
 *
 * Progress events only say whom to evaluate now (plus what the event itself knows, e.g. a VIP
 * tier that lapsed again before we looked); the periodic re-check evaluates every user active
 * lately, so a lost event still awards.
 */
export class MedalService implements ProgressListener {
  private readonly records: MedalRecords;
  private readonly ledger: Ledger;
  private cached: { at: number; definitions: MedalDefinition[] } | null = null;

  constructor(
    private readonly deps: {
      dataSource: DataSource;
      notifier: Notifier;
      settings: MedalSettings;
      logger?: Pick<Logger, 'warn'>;
      clock?: () => number;
    },
  ) {
    this.records = new MedalRecords(deps.dataSource);
    this.ledger = new Ledger(deps.dataSource);
  }

  async onProgress(event: ProgressEvent): Promise<void> {
    const hint = hintOf(event);
    if (hint) await this.evaluate(event.userId, hint);
  }

  /** Awards what the user is due now; returns the ids awarded by this call. */
  async evaluate(userId: string, hint: Partial<MedalFacts> = {}): Promise<string[]> {
    const definitions = await this.definitions();
    const [facts, held] = await Promise.all([this.records.facts(userId), this.records.held(userId)]);
    const due = medalsDue(definitions, new Set(held.map((h) => h.medalId)), withHint(facts, hint));
    const awarded: string[] = [];
    for (const medal of due) {
      if (await this.award(userId, medal)) {
        awarded.push(medal.id);
        await this.announce(userId, medal).catch((err: unknown) =>
          this.deps.logger?.warn({ err, userId, medalId: medal.id }, 'a medal notification failed; the re-check sends it'),
        );
      }
    }
    return awarded;
  }

  /** The repair path: every user active in [since, asOf], and awards nobody was told of. */
  async recheck(input: { since: Date; asOf: Date; maxUsers: number }): Promise<RecheckResult> {
    let usersChecked = 0;
    let medalsAwarded = 0;
    let after: string | null = null;
    while (usersChecked < input.maxUsers) {
      const page = await this.records.activeSince(input.since, input.asOf, after, Math.min(500, input.maxUsers - usersChecked));
      if (page.length === 0) break;
      for (const userId of page) {
        try {
          medalsAwarded += (await this.evaluate(userId)).length;
        } catch (err) {
          this.deps.logger?.warn({ err, userId }, 'a medal re-check failed for one user; the next run tries again');
        }
      }
      usersChecked += page.length;
      after = page[page.length - 1]!;
    }
    let medalsAnnounced = 0;
    const definitions = new Map((await this.definitions()).map((d) => [d.id, d]));
    for (const award of await this.records.unannounced(input.asOf, 1_000)) {
      const medal = definitions.get(award.medalId);
      if (!medal) continue;
      try {
        await this.announce(award.userId, medal);
        medalsAnnounced += 1;
      } catch (err) {
        this.deps.logger?.warn({ err, userId: award.userId, medalId: award.medalId }, 'a medal notification failed again');
      }
    }
    return { usersChecked, medalsAwarded, medalsAnnounced };
  }

  async catalogue(acceptLanguage?: string): Promise<MedalView[]> {
    const definitions = await this.definitions();
    const languages = new Set(definitions.flatMap((d) => Object.keys(d.names)));
    const language = preferredLanguage(acceptLanguage, languages);
    return definitions.map((d) => view(d, language));
  }

  async mine(userId: string, acceptLanguage?: string) {
    const [catalogue, held] = await Promise.all([this.catalogue(acceptLanguage), this.records.held(userId)]);
    const byId = new Map(catalogue.map((m) => [m.id, m]));
    const medals = held.flatMap((h) => {
      const medal = byId.get(h.medalId);
      return medal ? [{ ...medal, awardedAt: h.awardedAt.toISOString(), displaySlot: h.displaySlot }] : [];
    });
    const displayed = medals.filter((m) => m.displaySlot !== null).sort((a, b) => a.displaySlot! - b.displaySlot!).map((m) => m.id);
    return { displaySlots: this.deps.settings.displaySlots, displayed, medals };
  }

  /** Chooses the medals the profile shows, in slot order; only held ones, at most displaySlots. */
  async setDisplay(userId: string, medalIds: string[]): Promise<void> {
    await this.records.setDisplay(userId, (held) => {
      const refusal = checkDisplayChoice(medalIds, held, this.deps.settings.displaySlots);
      if (refusal?.kind === 'too-many') throw new AppError(ErrorCode.MedalDisplayTooMany, `a profile shows at most ${refusal.max} medals`, { max: refusal.max });
      if (refusal?.kind === 'duplicate') throw new AppError(ErrorCode.ValidationFailed, 'a medal can take one slot only', { medalId: refusal.medalId });
      if (refusal?.kind === 'not-held') throw new AppError(ErrorCode.MedalNotHeld, 'only medals you hold can be displayed', { medalIds: refusal.medalIds });
      return medalIds;
    });
  }

  private async award(userId: string, medal: MedalDefinition): Promise<boolean> {
    const at = new Date(this.deps.clock?.() ?? Date.now());
    return this.deps.dataSource.transaction(async (tx) => {
      if (!(await this.records.insertAward(tx, userId, medal.id, at))) return false;
      if ('coins' in medal.reward) {
        await this.ledger.creditCoins(
          { userId, amount: medal.reward.coins, reason: 'medal_reward', idempotencyKey: medalKey(userId, medal.id), metadata: { medalId: medal.id } },
          tx,
        );
      } else {
        await this.records.grantItem(tx, userId, medal.id, medal.reward.item);
      }
      return true;
    });
  }

  private async announce(userId: string, medal: MedalDefinition): Promise<void> {
    const name = localizedName(medal.names, 'en');
    const reward = 'coins' in medal.reward ? `${medal.reward.coins} coins` : 'a reward item';
    await this.deps.notifier.notify({
      userId,
      kind: 'medal',
      title: `Medal earned: ${name}`,
      body: `${localizedName(medal.descriptions, 'en')}. You received ${reward}.`,
      data: { medalId: medal.id, category: medal.category, iconKey: medal.iconKey, reward: medal.reward },
      idempotencyKey: medalKey(userId, medal.id),
    });
    await this.records.markAnnounced(userId, medal.id);
  }

  private async definitions(): Promise<MedalDefinition[]> {
    const now = this.deps.clock?.() ?? Date.now();
    if (this.cached && now - this.cached.at < (this.deps.settings.definitionsTtlMs ?? 60_000)) return this.cached.definitions;
    const { definitions, unreadable } = await this.records.definitions();
    if (unreadable.length) this.deps.logger?.warn({ medalIds: unreadable }, 'medal definitions with criteria or a reward this version cannot read are skipped');
    this.cached = { at: now, definitions };
    return definitions;
  }
}

/** What an event tells about the user beyond the records; null: nothing a medal depends on changed. */
function hintOf(event: ProgressEvent): Partial<MedalFacts> | null {
  switch (event.kind) {
    case 'daily-claimed':
      return { bestStreak: event.streak };
    case 'gift-sent':
      return {};
    case 'recharged':
      return { recharged: true };
    case 'vip-bought':
      return { vipTier: event.tier };
    case 'level-up':
      return event.track === 'wealth' ? { wealthLevel: event.level } : { charmLevel: event.level };
    case 'gift-received':
    case 'signed-in':
      // Charm medals follow the charm level-up event; sign-ins change nothing medals read.
      return null;
  }
}

function view(d: MedalDefinition, language: string): MedalView {
  return {
    id: d.id,
    category: d.category,
    name: localizedName(d.names, language),
    names: d.names,
    description: localizedName(d.descriptions, language),
    iconKey: d.iconKey,
    criteria: d.criteria,
    reward: d.reward,
  };
}
