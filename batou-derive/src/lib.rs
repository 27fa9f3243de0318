//! `#[component]`: a batou component's attributes declared once, on its
//! fields. Re-exported (and documented) as `batou_core::component`.
//!
//! The attribute rewrites the struct it is put on; it adds no trait of
//! its own to the user's `impl Component`, so hand-written components and
//! this shorthand mix freely.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Fields, ItemStruct, Lit, LitStr, Meta, Token};

/// See `batou_core::component` for the user's documentation.
#[proc_macro_attribute]
pub fn component(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(args as Args);
    let item = syn::parse_macro_input!(item as ItemStruct);
    expand(args, item)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// `#[component]` or `#[component(name = "nginx")]`.
struct Args {
    name: Option<LitStr>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut name = None;
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated(input)?;
        for meta in metas {
            match meta {
                Meta::NameValue(nv) if nv.path.is_ident("name") => match nv.value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) => name = Some(s),
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            "the component's name is a string: #[component(name = \"nginx\")]",
                        ));
                    }
                },
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "unknown #[component] argument; the only one is name = \"...\"",
                    ));
                }
            }
        }
        Ok(Args { name })
    }
}

/// What `#[attr(..)]` said about one field.
#[derive(Default)]
struct FieldAttr {
    default: Option<Expr>,
    computed: bool,
}

fn field_attr(field: &mut syn::Field) -> syn::Result<FieldAttr> {
    let mut found = FieldAttr::default();
    let mut error: Option<syn::Error> = None;
    field.attrs.retain(|attr| {
        if !attr.path().is_ident("attr") {
            return true;
        }
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("computed") {
                found.computed = true;
                Ok(())
            } else if meta.path.is_ident("default") {
                found.default = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error("expected #[attr(default = ...)] or #[attr(computed)]"))
            }
        });
        if let Err(e) = parsed {
            match &mut error {
                Some(first) => first.combine(e),
                None => error = Some(e),
            }
        }
        false
    });
    match error {
        Some(e) => Err(e),
        None => Ok(found),
    }
}

/// A default as written, except that a string literal becomes the
/// field's type through `Into` (`default = "Hello"` for a `String`).
fn default_value(expr: &Expr) -> Tokens {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(_), ..
        }) => quote!(::core::convert::Into::into(#expr)),
        _ => quote!(#expr),
    }
}

/// batou named components after their class, lowercased.
fn default_name(ident: &syn::Ident) -> String {
    ident.to_string().to_lowercase()
}

fn expand(args: Args, mut item: ItemStruct) -> syn::Result<Tokens> {
    let Fields::Named(fields) = &mut item.fields else {
        return Err(syn::Error::new(
            item.ident.span(),
            "#[component] needs a struct with named fields (its attributes; `struct Name {}` for none)",
        ));
    };
    let mut inits = Vec::new();
    let mut computed = Vec::new();
    for field in fields.named.iter_mut() {
        let attr = field_attr(field)?;
        let ident = field.ident.clone().expect("named fields have names");
        let value = match &attr.default {
            Some(expr) => default_value(expr),
            None => quote!(::core::default::Default::default()),
        };
        inits.push(quote!(#ident: #value));
        if attr.computed {
            field
                .attrs
                .push(syn::parse_quote!(#[serde(skip_deserializing)]));
            computed.push(ident.to_string());
        }
    }
    let ident = &item.ident;
    let name = args
        .name
        .map(|n| n.value())
        .unwrap_or_else(|| default_name(ident));
    let (impl_generics, type_generics, where_clause) = item.generics.split_for_impl();
    let serde = quote!(::batou_core::__private::serde);
    let serde_path = "::batou_core::__private::serde";
    Ok(quote! {
        #[derive(#serde::Serialize, #serde::Deserialize)]
        #[serde(crate = #serde_path, default)]
        #item

        impl #impl_generics ::core::default::Default for #ident #type_generics #where_clause {
            fn default() -> Self {
                #ident { #(#inits),* }
            }
        }

        impl #impl_generics ::batou_core::component::Attributes for #ident #type_generics #where_clause {
            const NAME: &'static str = #name;
            const COMPUTED: &'static [&'static str] = &[#(#computed),*];
        }

    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: Tokens, item: Tokens) -> syn::Result<String> {
        let args: Args = syn::parse2(args)?;
        let item: ItemStruct = syn::parse2(item)?;
        expand(args, item).map(|t| t.to_string())
    }

    #[test]
    fn defaults_computed_fields_and_the_name_are_generated() {
        let out = run(
            quote!(),
            quote!(
                struct WebServer {
                    #[attr(default = 80)]
                    port: u16,
                    #[attr(default = "x")]
                    name: String,
                    #[attr(computed)]
                    peers: Vec<String>,
                    plain: bool,
                }
            ),
        )
        .unwrap();
        assert!(
            out.contains("const NAME : & 'static str = \"webserver\""),
            "{out}"
        );
        assert!(
            out.contains("const COMPUTED : & 'static [& 'static str] = & [\"peers\"]"),
            "{out}"
        );
        assert!(out.contains("port : 80"), "{out}");
        assert!(
            out.contains("name : :: core :: convert :: Into :: into (\"x\")"),
            "{out}"
        );
        assert!(
            out.contains("plain : :: core :: default :: Default :: default ()"),
            "{out}"
        );
        assert!(
            out.contains("# [serde (skip_deserializing)] peers"),
            "{out}"
        );
        assert!(
            !out.contains("# [attr"),
            "helper attributes must be removed: {out}"
        );
    }

    #[test]
    fn an_explicit_name_wins() {
        let out = run(
            quote!(name = "nginx"),
            quote!(
                struct Web {}
            ),
        )
        .unwrap();
        assert!(
            out.contains("const NAME : & 'static str = \"nginx\""),
            "{out}"
        );
    }

    #[test]
    fn misuse_is_a_compile_error_saying_what_is_expected() {
        let e = run(
            quote!(),
            quote!(
                struct T {
                    #[attr(defualt = 1)]
                    a: u8,
                }
            ),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("expected #[attr(default = ...)] or #[attr(computed)]"),
            "{e}"
        );
        let e = run(
            quote!(),
            quote!(
                struct T(u8);
            ),
        )
        .unwrap_err();
        assert!(e.to_string().contains("named fields"), "{e}");
        let e = run(
            quote!(name = 3),
            quote!(
                struct T {}
            ),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("the component's name is a string"),
            "{e}"
        );
        let e = run(
            quote!(label = "x"),
            quote!(
                struct T {}
            ),
        )
        .unwrap_err();
        assert!(e.to_string().contains("the only one is name"), "{e}");
    }
}

mod asset;

/// Used by `batou_core::asset!`: `(key, crate_dir, root)` of an asset
/// file of the calling crate, which must exist (its content is not read).
#[doc(hidden)]
#[proc_macro]
pub fn asset_location(input: TokenStream) -> TokenStream {
    let path = syn::parse_macro_input!(input as LitStr);
    asset::expand(path)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
