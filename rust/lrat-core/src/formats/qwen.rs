use super::Ctx;
use crate::json::Json;
use crate::model::Trajectory;

pub fn parse_json(_v: &Json, _ctx: &mut Ctx) -> Result<Trajectory, String> {
    Err("qwen: not written yet".into())
}

pub fn parse_text(_text: &str, _ctx: &mut Ctx) -> Result<Trajectory, String> {
    Err("qwen: not written yet".into())
}
