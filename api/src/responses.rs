//! The response variants that most endpoints repeat (failed authentication, an unreadable or
//! oversized body), written once, so that every endpoint documents them in the same words.
//!
//! poem-openapi's `ApiResponse` derive has no way to take variants from another type, and the
//! spec lists an operation's responses in variant order, which differs per endpoint. So
//! [`responses!`] writes the enum and expands a marker into its variants where the marker
//! stands.

/// Writes `#[derive(Debug, ApiResponse)]` on an enum whose variants are listed in the order
/// the spec lists them, each as its doc comment (the response's description), its status, its
/// name and fields: `404 NotFound(Json<ErrorBody>)` stands for
/// `#[oai(status = 404)] NotFound(Json<ErrorBody>)` (which may be written too). These markers
/// stand for variants many endpoints share:
/// - `@auth`: 401 `Unauthorized` and 403 `Forbidden`, no description (admin endpoints: no or
///   a wrong credential, or one that is not an admin's);
/// - `@signed_in`: 401 `Unauthorized` alone, no description (a signed-in user's endpoints);
/// - `@bad_request`: 400 `BadRequest`, for a body or parameter poem cannot parse;
/// - `@body`: 413 `TooLarge` and 415 `UnsupportedMediaType` (endpoints that read a body).
///
/// Each of them holds a `Json<ErrorBody>`, so a handler may still answer with it.
///
/// The enum may take type parameters with one bound each (`pub enum Answer<T: ToJSON>`), for
/// answers that differ only in their payload. It derives `Debug`, unless `@opaque` stands
/// before it: then its payload has none (an event stream) and `Debug` writes only its name.
///
/// ```ignore
/// responses! {
///     pub enum RevokeTokenResult {
///         /// Revoked; requests with it fail from now on.
///         204 Revoked,
///         @auth,
///         /// No such live token.
///         404 NotFound(Json<ErrorBody>),
///         @bad_request,
///     }
/// }
/// ```
macro_rules! responses {
    // Every variant is written out: the enum.
    (@munch [$($head:tt)*] [$($done:tt)*]) => {
        $($head)* { $($done)* }
    };
    // A marker: its variants, put back in the input where the marker stood.
    (@munch $head:tt $done:tt @auth $(, $($rest:tt)*)?) => {
        $crate::responses::responses!(@munch $head $done
            401 Unauthorized($crate::responses::ErrorJson),
            403 Forbidden($crate::responses::ErrorJson),
            $($($rest)*)?);
    };
    (@munch $head:tt $done:tt @signed_in $(, $($rest:tt)*)?) => {
        $crate::responses::responses!(@munch $head $done
            401 Unauthorized($crate::responses::ErrorJson),
            $($($rest)*)?);
    };
    (@munch $head:tt $done:tt @bad_request $(, $($rest:tt)*)?) => {
        $crate::responses::responses!(@munch $head $done
            /// The body or a parameter cannot be parsed (`bad_request`).
            400 BadRequest($crate::responses::ErrorJson),
            $($($rest)*)?);
    };
    (@munch $head:tt $done:tt @body $(, $($rest:tt)*)?) => {
        $crate::responses::responses!(@munch $head $done
            /// The body is larger than `MAX_BODY_BYTES` (`payload_too_large`).
            413 TooLarge($crate::responses::ErrorJson),
            /// The body is not of the documented media type (`unsupported_media_type`).
            415 UnsupportedMediaType($crate::responses::ErrorJson),
            $($($rest)*)?);
    };
    // A variant written out: its doc comment, its status, its name and fields.
    (@munch $head:tt [$($done:tt)*]
        $(#[$vattr:meta])* $status:literal $variant:ident $(($($fields:tt)*))? $(, $($rest:tt)*)?) => {
        $crate::responses::responses!(@munch $head
            [$($done)* $(#[$vattr])* #[oai(status = $status)] $variant $(($($fields)*))?,]
            $($($rest)*)?);
    };
    // A variant with its `#[oai(...)]` attribute written out.
    (@munch $head:tt [$($done:tt)*]
        $(#[$vattr:meta])* $variant:ident $(($($fields:tt)*))? $(, $($rest:tt)*)?) => {
        $crate::responses::responses!(@munch $head
            [$($done)* $(#[$vattr])* $variant $(($($fields)*))?,] $($($rest)*)?);
    };
    // An enum whose payload has no `Debug`: `Debug` writes its name.
    (@opaque $(#[$attr:meta])* $vis:vis enum $name:ident { $($variants:tt)* }) => {
        $crate::responses::responses!(@munch
            [#[derive(::poem_openapi::ApiResponse)] $(#[$attr])* $vis enum $name]
            [] $($variants)*);

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(stringify!($name))
            }
        }
    };
    // The enum as written (with its type parameters, if any): start with no variant done.
    ($(#[$attr:meta])* $vis:vis enum $name:ident $(<$($param:ident: $bound:path),+>)?
        { $($variants:tt)* }) => {
        $crate::responses::responses!(@munch
            [#[derive(Debug, ::poem_openapi::ApiResponse)]
                $(#[$attr])* $vis enum $name $(<$($param: $bound),+>)?]
            [] $($variants)*);
    };
}

pub(crate) use responses;

/// The payload of every variant a marker writes.
pub(crate) type ErrorJson = poem_openapi::payload::Json<crate::error::ErrorBody>;
