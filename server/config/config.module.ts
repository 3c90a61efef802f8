import { DynamicModule, Global, Module } from '@nestjs/common';
import { Clock, systemClock } from './clock.js';
import { APP_CONFIG, AppConfig } from './config.js';

@Global()
@Module({})
export class ConfigModule {
  /** The validated configuration and the clock, for every module. */
  static forRoot(config: AppConfig, clock: Clock = systemClock): DynamicModule {
    return {
      module: ConfigModule,
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: Clock, useValue: clock },
      ],
      exports: [APP_CONFIG, Clock],
    };
  }
}
