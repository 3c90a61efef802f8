import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

const bigintAsNumber = {
  to: (v: number | null | undefined) => v,
  from: (v: string | null) => (v === null ? null : Number(v)),
};

@Entity('features')
export class Feature {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('text') slug!: string;
  @Column('text') name!: string;
  @Column('uuid', { name: 'default_org_id' }) defaultOrgId!: string;
  /** Budget per calendar month (UTC) in nano-dollars; null means none. */
  @Column('bigint', { name: 'monthly_budget_nanos', nullable: true, transformer: bigintAsNumber })
  monthlyBudgetNanos!: number | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}

@Entity('feature_orgs')
export class FeatureOrg {
  @Column('uuid', { name: 'feature_id', primary: true }) featureId!: string;
  @Column('uuid', { name: 'org_id', primary: true }) orgId!: string;
}
