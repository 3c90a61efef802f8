import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity('upstream_keys')
export class UpstreamKey {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('uuid', { name: 'org_id' }) orgId!: string;
  @Column('text') label!: string;
  /** The OpenAI key sealed with AES-256-GCM; never leaves the process in clear except upstream. */
  @Column('text', { select: false }) sealed!: string;
  @Column('text') masked!: string;
  /** OpenAI's id for this key (`key_…`), which its usage groups by; set by an admin, used by reconciliation. */
  @Column('text', { name: 'openai_key_id', nullable: true }) openaiKeyId!: string | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column('timestamptz', { name: 'revoked_at', nullable: true }) revokedAt!: Date | null;
}
