import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity('gateway_keys')
export class GatewayKey {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('uuid', { name: 'feature_id' }) featureId!: string;
  @Column('text') name!: string;
  /** SHA-256 of the key: keys are 256 random bits, so a fast hash is safe and lookups stay O(1). */
  @Column('bytea', { name: 'key_hash', select: false }) keyHash!: Buffer;
  @Column('text') masked!: string;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column('timestamptz', { name: 'revoked_at', nullable: true }) revokedAt!: Date | null;
}
