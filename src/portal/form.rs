//! The portal's forms: the fields it reads (through [`crate::web::form`], which owns the limits)
//! and how a problem with a typed value is put to the person.

use axum::body::Body;
use axum::http::HeaderMap;

use super::lang::tr;
use crate::web::form::{self, FieldProblem, Form, FormError};

/// Field names the portal reads; anything else is skipped (password managers add their own).
pub const KNOWN: [&str; 6] = [
    "csrf",
    "login",
    "current_password",
    "new_password",
    "confirm_password",
    "username",
];

/// Reads a portal form POST (see [`form::read`]).
pub async fn read(headers: &HeaderMap, body: Body) -> Result<Form, FormError> {
    form::read(headers, body, &KNOWN).await
}

/// What is wrong with the value typed into a field, in words for the form; `field` is the
/// catalogue key of the field's name (`field.username`…).
pub fn problem_message(problem: FieldProblem, field: &str) -> String {
    let name = tr(field, &[]);
    let key = match problem {
        FieldProblem::Empty => "field.empty",
        FieldProblem::TooLong => "field.too-long",
        FieldProblem::ControlCharacter => "field.control",
    };
    tr(key, &[("field", &name)])
}
