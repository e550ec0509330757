//! The console's side of the agency functions (`app::serverfns::agency::ssr::Agencies`): staff of one
//! agency, through a session, calling the same [`crate::domain::agency`] operations as the
//! agency API.

use std::sync::Arc;

use app::error::AppError;
use app::error::ssr::{fail, internal};
use app::serverfns::agency::ssr::{Agencies, ReadArgs, Staff};
use app::serverfns::agency::{AgencyGrantView, PublishedView, ServiceView, VersionInput};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::agency::{AgencyError, create_service, grants, publish, read, services, withdraw};
use crate::domain::gate::{Gate, GateError, Reader};
use crate::domain::pseudonym::PseudonymKey;
use crate::domain::records::Range;
use crate::domain::services::ServiceError;
use crate::portal::views;

/// The console's side: staff of one agency, through a session.
pub struct AgencyConsole {
    db: PgPool,
    gate: Arc<Gate>,
    key: Arc<PseudonymKey>,
}

impl AgencyConsole {
    #[must_use]
    pub fn new(db: PgPool, gate: Arc<Gate>, key: Arc<PseudonymKey>) -> Self {
        Self { db, gate, key }
    }
}

fn app_error(e: AgencyError) -> AppError {
    match e {
        AgencyError::NotFound(what) => fail(AppError::NotFound(what.to_owned())),
        AgencyError::Invalid { field, problem } => fail(AppError::Invalid { field: field.to_owned(), problem }),
        AgencyError::Gate(GateError::Denied { reason, message }) => {
            fail(AppError::Denied { reason: reason.as_str().to_owned(), message })
        }
        AgencyError::Gate(GateError::Invalid { field, problem }) => {
            fail(AppError::Invalid { field: field.to_owned(), problem })
        }
        AgencyError::Gate(GateError::Internal(e)) => internal(format!("{e:#}")),
        AgencyError::Service(ServiceError::Invalid { field, problem }) => {
            fail(AppError::Invalid { field: field.to_owned(), problem })
        }
        AgencyError::Service(e @ ServiceError::UnknownScope(_)) => {
            fail(AppError::Invalid { field: "scopes".into(), problem: e.to_string() })
        }
        AgencyError::Service(ServiceError::NotFound) => fail(AppError::NotFound("service".into())),
        AgencyError::Service(e @ ServiceError::Withdrawn) => fail(AppError::Conflict(e.to_string())),
        AgencyError::Service(e) => internal(e),
        AgencyError::Database(e) => internal(e),
    }
}

#[async_trait::async_trait]
impl Agencies for AgencyConsole {
    async fn services(&self, staff: &Staff) -> Result<Vec<ServiceView>, AppError> {
        let services = services(&self.db, &staff.agency_id).await.map_err(app_error)?;
        Ok(services.into_iter().map(views::service).collect())
    }

    async fn create_service(&self, staff: &Staff, slug: String) -> Result<Uuid, AppError> {
        create_service(&self.db, &staff.agency_id, &slug).await.map_err(app_error)
    }

    async fn publish(&self, staff: &Staff, service: Uuid, v: VersionInput) -> Result<PublishedView, AppError> {
        let new = views::new_version(v).map_err(app_error)?;
        publish(&self.db, &staff.agency_id, service, &new).await.map(|p| views::published(&p)).map_err(app_error)
    }

    async fn withdraw(&self, staff: &Staff, service: Uuid) -> Result<(), AppError> {
        withdraw(&self.db, &staff.agency_id, service).await.map_err(app_error)
    }

    async fn grants(&self, staff: &Staff, service: Uuid) -> Result<Vec<AgencyGrantView>, AppError> {
        let grants = grants(&self.db, &staff.agency_id, service).await.map_err(app_error)?;
        Ok(grants.into_iter().map(views::agency_grant).collect())
    }

    async fn read(&self, staff: &Staff, a: ReadArgs) -> Result<String, AppError> {
        let range = Range { from: a.from, to: a.to, limit: a.limit };
        // `<agency>/console/staff-…`: the public receipt names the person by a pseudonym only.
        let id = format!("{}/console/{}", staff.agency_id, self.key.staff_id(staff.account_id));
        let reader = Reader { agency_id: staff.agency_id.clone(), id };
        let result = read(&self.db, &self.gate, &reader, a.service_id, &a.pseudonym, a.scopes, range)
            .await
            .map_err(app_error)?;
        serde_json::to_string(&result).map_err(internal)
    }
}
