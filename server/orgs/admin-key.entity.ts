import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** An org's OpenAI admin key: reads its Usage and Costs APIs for reconciliation, never used for traffic. */
@Entity('org_admin_keys')
export class OrgAdminKey {
  @PrimaryColumn('uuid', { name: 'org_id' }) orgId!: string;
  /** Sealed with the same KeySealer as upstream keys; never leaves the process except to OpenAI's admin API. */
  @Column('text', { select: false }) sealed!: string;
  @Column('text') masked!: string;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column('timestamptz', { name: 'rotated_at', nullable: true }) rotatedAt!: Date | null;
}
