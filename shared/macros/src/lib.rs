//! `operation_of!(handlers::list)` names the type `#[utoipa::path]` generates for the handler
//! `handlers::list` (`handlers::__path_list`). With it, a function's route table binds each
//! route to its handler by the handler's own OpenAPI operation: the route string is written
//! once, in `#[utoipa::path]`, and a route without its handler cannot compile.
//!
//! `macro_rules!` cannot join identifiers, hence this crate; it needs no `syn`.

use proc_macro::{Delimiter, Ident, TokenStream, TokenTree};

#[proc_macro]
pub fn operation_of(input: TokenStream) -> TokenStream {
    let mut tokens = flatten(input);
    match tokens.iter().rposition(|t| matches!(t, TokenTree::Ident(_))) {
        Some(last) => {
            if let TokenTree::Ident(handler) = &tokens[last] {
                let named = Ident::new(&format!("__path_{handler}"), handler.span());
                tokens[last] = TokenTree::Ident(named);
            }
            tokens.into_iter().collect()
        }
        None => "compile_error!(\"operation_of! takes the path of a handler function\")"
            .parse()
            .unwrap_or_default(),
    }
}

/// A `$handler:path` from `macro_rules!` arrives wrapped in an invisible group.
fn flatten(input: TokenStream) -> Vec<TokenTree> {
    let mut out = Vec::new();
    for token in input {
        match token {
            TokenTree::Group(group) if group.delimiter() == Delimiter::None => {
                out.extend(flatten(group.stream()))
            }
            other => out.push(other),
        }
    }
    out
}
