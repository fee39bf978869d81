//! The admin API's routes: one table that the router matches against and that a
//! test holds equal to the checked-in OpenAPI document, so the two cannot drift.

/// Every operation, as `METHOD PATH` with `{name}`-style parameters.
pub(crate) const ROUTES: &[&str] = &[
    "GET /api/v1/openapi.json",
    "GET /api/v1/health",
    "GET /api/v1/services",
    "POST /api/v1/services",
    "GET /api/v1/services/{name}",
    "PATCH /api/v1/services/{name}",
    "DELETE /api/v1/services/{name}",
    "POST /api/v1/services/{name}/enable",
    "POST /api/v1/services/{name}/disable",
    "GET /api/v1/services/{name}/secrets",
    "POST /api/v1/services/{name}/secrets",
    "DELETE /api/v1/services/{name}/secrets/{id}",
    "GET /api/v1/services/{name}/trusted-certificates",
    "POST /api/v1/services/{name}/trusted-certificates",
    "DELETE /api/v1/services/{name}/trusted-certificates/{id}",
    "GET /api/v1/requests",
    "GET /api/v1/requests/{id}",
    "POST /api/v1/requests/{id}/approve",
    "POST /api/v1/requests/{id}/reject",
    "GET /api/v1/certificates",
    "GET /api/v1/certificates/{serial}",
    "POST /api/v1/certificates/{serial}/revoke",
];

/// What a request's method and path matched.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Matched {
    /// The route (an entry of [`ROUTES`]) and its decoded path parameters, in order.
    Route(&'static str, Vec<String>),
    /// The path exists, but not for this method; these methods it takes.
    Method(Vec<&'static str>),
    /// No such path.
    Nothing,
    /// A path segment is not valid percent-encoded UTF-8.
    BadEncoding,
}

/// Matches `method path` (path without query, trailing `/` ignored) against the table.
pub(crate) fn find(method: &str, path: &str) -> Matched {
    let path = path.trim_end_matches('/');
    let Some(segments) = path
        .split('/')
        .map(|s| super::http::percent_decode(s, false))
        .collect::<Option<Vec<String>>>()
    else {
        return Matched::BadEncoding;
    };
    let mut methods = Vec::new();
    for route in ROUTES {
        let (route_method, template) = route.split_once(' ').expect("METHOD PATH");
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let fits = parts.iter().zip(&segments).all(|(part, segment)| {
            if part.starts_with('{') {
                params.push(segment.clone());
                !segment.is_empty()
            } else {
                part == segment
            }
        });
        if !fits {
            continue;
        }
        if route_method == method {
            return Matched::Route(route, params);
        }
        methods.push(route_method);
    }
    if methods.is_empty() {
        Matched::Nothing
    } else {
        Matched::Method(methods)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route the router answers is in the OpenAPI document, and every
    /// operation of the document is a route.
    #[test]
    fn the_openapi_document_lists_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(super::super::OPENAPI).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let mut documented = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in ["get", "post", "patch", "put", "delete"] {
                if item.get(method).is_some() {
                    documented.push(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        let mut routes: Vec<String> = ROUTES.iter().map(|r| r.to_string()).collect();
        documented.sort();
        routes.sort();
        assert_eq!(documented, routes);
    }

    #[test]
    fn paths_match_with_decoded_parameters_and_methods() {
        assert_eq!(
            find("GET", "/api/v1/services/Shop%20floor/secrets/"),
            Matched::Route(
                "GET /api/v1/services/{name}/secrets",
                vec!["Shop floor".into()]
            )
        );
        assert_eq!(
            find("PUT", "/api/v1/services/x"),
            Matched::Method(vec!["GET", "PATCH", "DELETE"])
        );
        assert_eq!(find("GET", "/api/v1/nothing"), Matched::Nothing);
        assert_eq!(find("GET", "/api/v1/services/%ff"), Matched::BadEncoding);
        assert_eq!(find("GET", "/api/v1/services//secrets"), Matched::Nothing);
    }
}
