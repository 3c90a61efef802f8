import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Price } from './price.entity.js';
import { PricingService } from './pricing.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([Price])],
  providers: [PricingService],
  exports: [PricingService],
})
export class PricingModule {}
