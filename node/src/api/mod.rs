//! The client API: gRPC (tonic) over the versioned `proto/lagrange/v1/gateway.proto`.

pub mod server;

pub use server::{ApiLimits, MAX_WATCHES, MAX_WATCHES_PER_CLIENT};

/// Generated protobuf types and the gRPC client and server stubs.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("lagrange.v1");
}

/// Largest request the server decodes. Bigger ones are refused with `RESOURCE_EXHAUSTED`
/// before they reach the gateway.
pub const MAX_REQUEST_BYTES: usize = 8 << 20;

/// The gateway service, answering a request over [`MAX_REQUEST_BYTES`] with
/// `RESOURCE_EXHAUSTED` (what gRPC clients expect for a message too large) where tonic's
/// decoder says `OUT_OF_RANGE`. The status travels in the response's trailers (or its
/// headers, for a trailers-only response); both are rewritten.
#[derive(Clone)]
pub struct SizeLimited<S>(pub S);

impl<S: tonic::server::NamedService> tonic::server::NamedService for SizeLimited<S> {
    const NAME: &'static str = S::NAME;
}

type HttpResponse = tonic::codegen::http::Response<tonic::body::Body>;

/// Turns tonic's "decoded message length too large" status into `RESOURCE_EXHAUSTED`.
fn rewrite_too_large(headers: &mut tonic::codegen::http::HeaderMap) {
    let too_large = headers.get("grpc-status").is_some_and(|s| s == "11")
        && headers
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            // Percent-encoded on the wire.
            .is_some_and(|m| m.replace("%20", " ").contains("message length too large"));
    if too_large {
        let code = tonic::codegen::http::HeaderValue::from_static("8");
        headers.insert("grpc-status", code);
    }
}

impl<S, B> tonic::codegen::Service<tonic::codegen::http::Request<B>> for SizeLimited<S>
where
    S: tonic::codegen::Service<tonic::codegen::http::Request<B>, Response = HttpResponse>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = tonic::codegen::BoxFuture<HttpResponse, S::Error>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: tonic::codegen::http::Request<B>) -> Self::Future {
        let response = self.0.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            rewrite_too_large(response.headers_mut());
            Ok(response.map(|body| tonic::body::Body::new(Trailers(body))))
        })
    }
}

/// A response body whose trailers pass through [`rewrite_too_large`].
struct Trailers(tonic::body::Body);

impl http_body::Body for Trailers {
    type Data = <tonic::body::Body as http_body::Body>::Data;
    type Error = <tonic::body::Body as http_body::Body>::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.0).poll_frame(cx).map(|frame| {
            frame.map(|frame| {
                frame.map(|frame| match frame.into_trailers() {
                    Ok(mut trailers) => {
                        rewrite_too_large(&mut trailers);
                        http_body::Frame::trailers(trailers)
                    }
                    Err(data) => data,
                })
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0.size_hint()
    }
}
