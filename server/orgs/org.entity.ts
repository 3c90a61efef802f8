import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export type OrgStatus = 'active' | 'suspended';

@Entity('orgs')
export class Org {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('text') name!: string;
  /** OpenAI's id for the organization, sent upstream as OpenAI-Organization. */
  @Column('text', { name: 'openai_org_id' }) openaiOrgId!: string;
  @Column('text', { name: 'project_id', nullable: true }) projectId!: string | null;
  @Column('text', { name: 'base_url' }) baseUrl!: string;
  @Column('text') status!: OrgStatus;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
