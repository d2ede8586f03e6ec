import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { RoomStatus, RoomType, SeatMode } from '../../domain/rooms/model';

export type RoomClosedReason = 'owner' | 'empty' | 'admin';

/** A room's durable settings. Seats and presence are live state in Redis. Closed, never deleted. */
@Entity({ name: 'rooms' })
export class RoomRecord {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  @Column({ type: 'text' })
  type: RoomType;

  @Column({ type: 'varchar', length: 64 })
  name: string;

  @Column({ name: 'cover_url', type: 'varchar', length: 512, nullable: true })
  coverUrl: string | null;

  @Column({ type: 'varchar', length: 200, nullable: true })
  topic: string | null;

  /** ISO 3166-1 alpha-2, for regional discovery. */
  @Column({ type: 'varchar', length: 2, nullable: true })
  region: string | null;

  /** Fixed at creation. */
  @Column({ name: 'seat_count', type: 'integer' })
  seatCount: number;

  @Column({ name: 'seat_mode', type: 'text' })
  seatMode: SeatMode;

  /** `scrypt$N$r$p$salt$hash` (platform/crypto/room-passwords); null when the room is open to all. */
  @Column({ name: 'password_hash', type: 'text', nullable: true })
  passwordHash: string | null;

  @Column({ type: 'text', default: 'open' })
  status: RoomStatus;

  @Column({ name: 'closed_reason', type: 'text', nullable: true })
  closedReason: RoomClosedReason | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @Column({ name: 'closed_at', type: 'timestamptz', nullable: true })
  closedAt: Date | null;
}
