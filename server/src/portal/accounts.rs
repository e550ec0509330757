//! The server's side of `app::serverfns::me`: the signed-in account as the pages show it, and
//! the city's districts.

use app::error::AppError;
use app::error::ssr::internal;
use app::serverfns::me::ssr::Accounts;
use app::serverfns::me::{District, Me};
use app::session::{ROLE_RESIDENT, SessionUser};
use sqlx::PgPool;

use crate::clock::rfc3339;

pub struct AccountService {
    db: PgPool,
}

impl AccountService {
    #[must_use]
    pub fn new(db: PgPool) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl Accounts for AccountService {
    async fn me(&self, user: &SessionUser) -> Result<Option<Me>, AppError> {
        let row = sqlx::query!(
            // language=PostgreSQL
            r#"
            select a.display_name, a.roles, a.created_at, r.resident_id as "resident_id?",
                   d.district_id as "district_id?", d.name_en as "name_en?", d.name_zh as "name_zh?"
            from account a
                     left join resident r using (account_id)
                     left join district d on d.district_id = r.district_id
            where a.account_id = $1
            "#,
            user.account_id
        )
        .fetch_optional(&self.db)
        .await
        .map_err(internal)?;
        Ok(row.map(|r| Me {
            name: r.display_name,
            is_resident: r.resident_id.is_some() || r.roles.iter().any(|x| x == ROLE_RESIDENT),
            roles: r.roles,
            district: match (r.district_id, r.name_en, r.name_zh) {
                (Some(district_id), Some(name_en), Some(name_zh)) => Some(District { district_id, name_en, name_zh }),
                _ => None,
            },
            member_since: rfc3339(r.created_at),
        }))
    }

    async fn districts(&self) -> Result<Vec<District>, AppError> {
        sqlx::query_as!(
            District,
            // language=PostgreSQL
            "select district_id, name_en, name_zh from district order by name_en"
        )
        .fetch_all(&self.db)
        .await
        .map_err(internal)
    }
}
