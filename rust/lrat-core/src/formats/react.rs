use super::Ctx;
use crate::json::Json;
use crate::model::Trajectory;

pub fn parse_json(_v: &Json, _ctx: &mut Ctx) -> Result<Trajectory, String> {
    Err("react: not written yet".into())
}

pub fn parse_text(_text: &str, _ctx: &mut Ctx) -> Result<Trajectory, String> {
    Err("react: not written yet".into())
}
pub fn looks_like(_t: &str) -> bool { false }
