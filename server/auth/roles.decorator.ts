import { SetMetadata } from '@nestjs/common';

export { ROLES, type Role } from '../contract/common.js';
import type { Role } from '../contract/common.js';

export const ROLES_KEY = 'tallygate:roles';
export const PUBLIC_KEY = 'tallygate:public';

/** Which roles may call a route (admin may always). Every /api route needs this or @Public(). */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);
/** A route anyone may call (sign-in, health). */
export const Public = () => SetMetadata(PUBLIC_KEY, true);
