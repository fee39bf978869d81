//! `/api/v1/requests` and `/api/v1/certificates`: held requests and issued
//! certificates, through the same decisions the CLI makes. A team-scoped token
//! sees and decides only its team's; revoking needs a full admin token.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::Caller;
use super::http::{Fields, Reply, blocking, error, id_param, outcome, query_param};
use crate::App;
use crate::decisions;

pub(crate) async fn handle(
    app: Arc<App>,
    caller: Caller,
    route: &'static str,
    params: Vec<String>,
    req: Request<Incoming>,
) -> Reply {
    let Caller { access, actor } = caller;
    let ok = StatusCode::OK;
    let param = |i: usize| params.get(i).cloned().unwrap_or_default();
    match route {
        "GET /api/v1/requests" => {
            let service = query_param(&req, "service");
            let status = query_param(&req, "status");
            blocking(&app, ok, move |app| {
                decisions::list_requests_as(app, access, service.as_deref(), status.as_deref())
            })
            .await
        }
        "GET /api/v1/requests/{id}" => match id_param(&param(0), "request") {
            Ok(id) => {
                blocking(&app, ok, move |app| {
                    decisions::show_request_as(app, access, id)
                })
                .await
            }
            Err(refusal) => refusal.reply(),
        },
        "POST /api/v1/requests/{id}/approve" | "POST /api/v1/requests/{id}/reject" => {
            let id = match id_param(&param(0), "request") {
                Ok(id) => id,
                Err(refusal) => return refusal.reply(),
            };
            let approve = route.ends_with("approve");
            let reason = match Fields::read(req).await.and_then(|mut body| {
                let reason = body.string("reason")?;
                body.finish()?;
                Ok(reason)
            }) {
                Ok(reason) => reason,
                Err(refusal) => return refusal.reply(),
            };
            if approve {
                blocking(&app, ok, move |app| {
                    decisions::approve_as(app, access, id, &actor)
                })
                .await
            } else {
                let reason = reason.unwrap_or_default();
                blocking(&app, ok, move |app| {
                    decisions::reject_as(app, access, id, &actor, &reason)
                })
                .await
            }
        }
        "GET /api/v1/certificates" => {
            let service = query_param(&req, "service");
            blocking(&app, ok, move |app| {
                decisions::list_certificates_as(app, access, service.as_deref())
            })
            .await
        }
        "GET /api/v1/certificates/{serial}" => {
            let serial = param(0);
            blocking(&app, ok, move |app| {
                decisions::show_certificate_as(app, access, &serial)
            })
            .await
        }
        "POST /api/v1/certificates/{serial}/revoke" => {
            if let Err(e) = access.require_full("revoking a certificate") {
                return outcome(ok, Err(e));
            }
            let serial = param(0);
            let reason = match Fields::read(req).await.and_then(|mut body| {
                let reason = body.string("reason")?;
                body.finish()?;
                Ok(reason)
            }) {
                Ok(reason) => reason.unwrap_or_else(|| "unspecified".into()),
                Err(refusal) => return refusal.reply(),
            };
            blocking(&app, ok, move |app| {
                decisions::revoke(app, &serial, &reason, &actor)
            })
            .await
        }
        other => error(
            StatusCode::NOT_FOUND,
            format!("no handler for {other}"),
            None,
        ),
    }
}
