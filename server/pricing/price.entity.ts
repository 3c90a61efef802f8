import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { LongContextPrices, ToolCallKind, UnitPrices } from './cost.js';

export type ServiceTier = 'default' | 'flex' | 'priority' | 'batch';

/** Every price component: its field, its column and the column's type; the INSERTs list them in this order. */
export const PRICE_COMPONENTS = [
  ['inputPerMtok', 'input_per_mtok', 'numeric'],
  ['cachedInputPerMtok', 'cached_input_per_mtok', 'numeric'],
  ['outputPerMtok', 'output_per_mtok', 'numeric'],
  ['audioInputPerMtok', 'audio_input_per_mtok', 'numeric'],
  ['perAudioMinute', 'per_audio_minute', 'numeric'],
  ['cachedAudioInputPerMtok', 'cached_audio_input_per_mtok', 'numeric'],
  ['audioOutputPerMtok', 'audio_output_per_mtok', 'numeric'],
  ['imageInputPerMtok', 'image_input_per_mtok', 'numeric'],
  ['cachedImageInputPerMtok', 'cached_image_input_per_mtok', 'numeric'],
  ['imageOutputPerMtok', 'image_output_per_mtok', 'numeric'],
  ['perMillionCharacters', 'per_million_characters', 'numeric'],
  ['perImage', 'per_image', 'jsonb'],
  ['perThousandCalls', 'per_thousand_calls', 'jsonb'],
  ['longContext', 'long_context', 'jsonb'],
] as const satisfies ReadonlyArray<readonly [keyof UnitPrices, string, 'numeric' | 'jsonb']>;
export const PRICE_COMPONENT_COLUMNS = PRICE_COMPONENTS.map(([, column]) => column).join(', ');

/** Unit prices as published, exact decimals (numeric comes back from pg as a string). */
@Entity('prices')
export class Price implements UnitPrices {
  @PrimaryGeneratedColumn() id!: number;
  @Column('text') model!: string;
  @Column('text', { name: 'service_tier' }) serviceTier!: ServiceTier;
  @Column('timestamptz', { name: 'effective_from' }) effectiveFrom!: Date;
  @Column('numeric', { name: 'input_per_mtok', nullable: true }) inputPerMtok!: string | null;
  @Column('numeric', { name: 'cached_input_per_mtok', nullable: true }) cachedInputPerMtok!: string | null;
  @Column('numeric', { name: 'output_per_mtok', nullable: true }) outputPerMtok!: string | null;
  @Column('numeric', { name: 'audio_input_per_mtok', nullable: true }) audioInputPerMtok!: string | null;
  @Column('numeric', { name: 'per_audio_minute', nullable: true }) perAudioMinute!: string | null;
  @Column('numeric', { name: 'cached_audio_input_per_mtok', nullable: true }) cachedAudioInputPerMtok!: string | null;
  @Column('numeric', { name: 'audio_output_per_mtok', nullable: true }) audioOutputPerMtok!: string | null;
  @Column('numeric', { name: 'image_input_per_mtok', nullable: true }) imageInputPerMtok!: string | null;
  @Column('numeric', { name: 'cached_image_input_per_mtok', nullable: true }) cachedImageInputPerMtok!: string | null;
  @Column('numeric', { name: 'image_output_per_mtok', nullable: true }) imageOutputPerMtok!: string | null;
  @Column('numeric', { name: 'per_million_characters', nullable: true }) perMillionCharacters!: string | null;
  /** USD per image keyed `size/quality` (or `size`); strings, so the amounts stay exact. */
  @Column('jsonb', { name: 'per_image', nullable: true }) perImage!: Record<string, string> | null;
  /** USD per 1,000 built-in tool calls keyed by tool kind. */
  @Column('jsonb', { name: 'per_thousand_calls', nullable: true }) perThousandCalls!: Partial<Record<ToolCallKind, string>> | null;
  @Column('jsonb', { name: 'long_context', nullable: true }) longContext!: LongContextPrices | null;
  /** Where the numbers come from: URL, the date it was read, and any disagreement between sources. */
  @Column('text') source!: string;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  /** Set when a correction replaced this row; events priced with it keep pointing at it. */
  @Column('timestamptz', { name: 'retired_at', nullable: true }) retiredAt!: Date | null;
  @Column('text', { name: 'retired_by', nullable: true }) retiredBy!: string | null;
}
