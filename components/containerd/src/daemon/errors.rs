//! Mapping of the daemon's errors to gRPC statuses with containerd's codes and wording,
//! so clients that test `errdefs.IsNotFound` and friends behave as with containerd.

use tonic::Status;

use super::content::ContentError;
use super::diff::ApplyError;
use super::filter::FilterError;
use super::snapshots::SnapshotError;
use super::store::StoreError;

pub fn from_store(e: StoreError) -> Status {
    Status::internal(e.to_string())
}

pub fn from_content(e: ContentError) -> Status {
    let msg = e.to_string();
    match e {
        ContentError::NotFound(_) | ContentError::NoIngest(_) => Status::not_found(msg),
        ContentError::AlreadyExists(_) => Status::already_exists(msg),
        ContentError::Locked(_) => Status::unavailable(msg),
        ContentError::InvalidDigest(_) => Status::invalid_argument(msg),
        ContentError::SizeMismatch { .. } | ContentError::DigestMismatch { .. } => {
            Status::failed_precondition(msg)
        }
        ContentError::Io { .. } => Status::internal(msg),
    }
}

pub fn from_snapshot(e: SnapshotError) -> Status {
    let msg = e.to_string();
    match e {
        SnapshotError::NotFound(_) => Status::not_found(msg),
        SnapshotError::AlreadyExists(_) => Status::already_exists(msg),
        SnapshotError::ParentNotCommitted(_) | SnapshotError::UnknownSnapshotter(_) => {
            Status::invalid_argument(msg)
        }
        SnapshotError::NotActive(_) | SnapshotError::HasChildren(_) => {
            Status::failed_precondition(msg)
        }
        SnapshotError::Store(_) | SnapshotError::Io { .. } => Status::internal(msg),
    }
}

pub fn from_apply(e: ApplyError) -> Status {
    let msg = format!("failed to apply layer: {e}");
    match e {
        ApplyError::Escape(_)
        | ApplyError::Device(_)
        | ApplyError::NotDir(_)
        | ApplyError::LinkTarget { .. }
        | ApplyError::Mounts(_)
        | ApplyError::Read(_) => Status::invalid_argument(msg),
        ApplyError::Write { .. } => Status::internal(msg),
    }
}

pub fn from_filter(e: FilterError) -> Status {
    Status::invalid_argument(e.to_string())
}
