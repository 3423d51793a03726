use super::Ctx;
use crate::json::Json;
use crate::model::Trajectory;

pub fn parse(_v: &Json, _ctx: &mut Ctx) -> Result<Trajectory, String> {
    Err("chat_completions: not written yet".into())
}
