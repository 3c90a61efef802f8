import { Global, Module } from '@nestjs/common';
import { SharedState } from './shared-state.js';

/** Global: any module may share state through it (it depends on the config only). */
@Global()
@Module({ providers: [SharedState], exports: [SharedState] })
export class SharedStateModule {}
