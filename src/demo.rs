//! Demo data.
use diesel::PgConnection;
pub fn is_empty(_conn: &mut PgConnection) -> anyhow::Result<bool> {
    Ok(false)
}
pub fn fill(_conn: &mut PgConnection) -> anyhow::Result<String> {
    anyhow::bail!("demo data: not written yet")
}
