import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type ServiceTier = 'default' | 'flex' | 'priority' | 'batch';

/** Unit prices as published, exact decimals (numeric comes back from pg as a string). */
@Entity('prices')
export class Price {
  @PrimaryGeneratedColumn() id!: number;
  @Column('text') model!: string;
  @Column('text', { name: 'service_tier' }) serviceTier!: ServiceTier;
  @Column('timestamptz', { name: 'effective_from' }) effectiveFrom!: Date;
  @Column('numeric', { name: 'input_per_mtok', nullable: true }) inputPerMtok!: string | null;
  @Column('numeric', { name: 'cached_input_per_mtok', nullable: true }) cachedInputPerMtok!: string | null;
  @Column('numeric', { name: 'output_per_mtok', nullable: true }) outputPerMtok!: string | null;
  @Column('numeric', { name: 'audio_input_per_mtok', nullable: true }) audioInputPerMtok!: string | null;
  @Column('numeric', { name: 'per_audio_minute', nullable: true }) perAudioMinute!: string | null;
  @Column('text') source!: string;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  /** Set when a correction replaced this row; events priced with it keep pointing at it. */
  @Column('timestamptz', { name: 'retired_at', nullable: true }) retiredAt!: Date | null;
  @Column('text', { name: 'retired_by', nullable: true }) retiredBy!: string | null;
}
