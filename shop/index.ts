/**
 * The shop (The Last Mile Works): clients commission software, student teams build it, staff decide
 * what leaves. See docs/shop.md.
 */
export { shopMigrations } from './migrations.ts';
export { createTeams, type Teams, type Team } from './teams.ts';
export { createShop, type Shop } from './shop.ts';
export { registerShopRoutes, type ShopPreviews } from './web.ts';
