import { userIdHeader } from './headers.js';
import type { ApiRoute } from './route.js';
import { notification, order, product, services, user } from './services.js';

/** End-user authentication: the user service issues these tokens; the edge verifies them. */
export const edgeAuth = {
  issuer: 'meshkit-user',
  audiences: ['meshkit'],
  userIdHeader,
  /** Where the edge fetches the keys that verify tokens (and so which service issues them). */
  jwks: user.routes.jwks,
  jwksPath: user.routes.jwks.path,
} as const;

/** Routes the ingress gateway exposes to anyone. */
export const openRoutes: readonly ApiRoute[] = [user.routes.register, user.routes.login, user.routes.jwks, product.routes.list, product.routes.get];

/** Routes the ingress gateway exposes to callers with a valid end-user JWT (they read the user id header). */
export const jwtRoutes: readonly ApiRoute[] = [user.routes.me, order.routes.place, order.routes.list, order.routes.get, notification.routes.list];

/** Whether the ingress gateway exposes the route (with or without a JWT). */
export const isPublic = (route: ApiRoute): boolean => openRoutes.includes(route) || jwtRoutes.includes(route);

/** The public routes of a service, in its declaration order. */
export const publicRoutesOf = (service: (typeof services)[number]): ApiRoute[] => Object.values<ApiRoute>(service.routes).filter(isPublic);
