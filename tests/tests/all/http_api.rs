//! The template's HTTP API against the route tables: CORS names the frontend's origin only,
//! and every route strangers can call has a throttle of its own, below the default.

use gestor_registry::FUNCTIONS;
use gestor_shared::http::Access;
use gestor_shared::registry::Serves;

use crate::sam::*;

#[test]
fn routes_strangers_reach_are_throttled_tighter_and_cors_names_the_frontend_only() {
    let t = template();
    let (_, api) = single(&t, "AWS::Serverless::HttpApi");
    let properties = &api["Properties"];
    let origins = properties["CorsConfiguration"]["AllowOrigins"].as_vec().cloned().unwrap_or_default();
    let named: Vec<Option<&str>> = origins.iter().map(target).collect();
    assert_eq!(named, vec![Some("FrontendOrigin")], "CORS lets in the frontend's origin only");
    let default = properties["DefaultRouteSettings"]["ThrottlingRateLimit"].as_i64().unwrap_or(0);
    assert!(default > 0, "a default throttle for every route");
    let mut public = 0;
    for declaration in FUNCTIONS {
        let Serves::Http(part) = &declaration.serves else { continue };
        for route in (part.routes)() {
            // Routes strangers can call: no login, or limited per IP by the application.
            if route.access != Access::Public && route.limit.is_none() {
                continue;
            }
            let settings = &properties["RouteSettings"][route.key.as_str()];
            let rate = settings["ThrottlingRateLimit"].as_i64();
            let burst = settings["ThrottlingBurstLimit"].as_i64();
            assert!(rate.is_some() && burst.is_some(), "{}: no route throttle of its own", route.key);
            // Deliveries from the channels get room for a provider's bursts; the rest less
            // than any member's route.
            if route.key != "POST /webhooks/{channel}" {
                assert!(rate.unwrap_or(i64::MAX) < default, "{}: {rate:?} against {default}", route.key);
            }
            public += 1;
        }
    }
    assert!(public >= 5, "{public}");
}
