import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type RoomMessageKind = 'text' | 'system';

/** The room chat archive. Recall and delete leave a tombstone; the body stays for moderation. */
@Entity({ name: 'room_messages' })
export class RoomMessageRecord {
  @PrimaryGeneratedColumn('identity', { type: 'bigint' })
  id: string;

  @Column({ name: 'room_id', type: 'uuid' })
  roomId: string;

  /** Null for system messages. */
  @Column({ name: 'sender_id', type: 'uuid', nullable: true })
  senderId: string | null;

  @Column({ type: 'text' })
  kind: RoomMessageKind;

  @Column({ type: 'varchar', length: 2000 })
  body: string;

  /** The sender's id for the message: a retried send with the same id writes nothing. */
  @Column({ name: 'client_msg_id', type: 'varchar', length: 64, nullable: true })
  clientMsgId: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'recalled_at', type: 'timestamptz', nullable: true })
  recalledAt: Date | null;

  @Column({ name: 'deleted_at', type: 'timestamptz', nullable: true })
  deletedAt: Date | null;

  @Column({ name: 'deleted_by', type: 'uuid', nullable: true })
  deletedBy: string | null;
}
