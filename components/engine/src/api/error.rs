//! API errors: a status code and dockerd's message, sent as `{"message": ...}`.

use hyper::{Response, StatusCode};

use super::body::{json_response, Body};

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, m)
    }
    pub fn not_found(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, m)
    }
    pub fn conflict(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, m)
    }
    pub fn internal(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m)
    }
    pub fn not_implemented(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_IMPLEMENTED, m)
    }
    pub fn into_response(self) -> Response<Body> {
        json_response(self.status, &serde_json::json!({ "message": self.message }))
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> ApiError {
        ApiError::internal(e.to_string())
    }
}

impl From<crate::containers::ContainerError> for ApiError {
    fn from(e: crate::containers::ContainerError) -> ApiError {
        use crate::containers::ContainerError as E;
        let status = match &e {
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Conflict(_) => StatusCode::CONFLICT,
            E::BadRequest(_) => StatusCode::BAD_REQUEST,
            E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<crate::images::ImageError> for ApiError {
    fn from(e: crate::images::ImageError) -> ApiError {
        use crate::images::ImageError as E;
        let status = match &e {
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::BadReference(_) | E::Layer(_) | E::Invalid(_) => StatusCode::BAD_REQUEST,
            E::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<crate::volumes::VolumeError> for ApiError {
    fn from(e: crate::volumes::VolumeError) -> ApiError {
        use crate::volumes::VolumeError as E;
        let status = match &e {
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}
