//! The ImageService trait over the image functions of `image`.

use crate::state::Cri;
use k8s_cri::v1::image_service_server::ImageService;
use k8s_cri::v1::*;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The ImageService of a server.
#[derive(Clone)]
pub struct Images(pub Arc<Cri>);

type R<T> = Result<Response<T>, Status>;

impl Images {
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Cri) -> Result<T, Status> + Send + 'static,
    ) -> Result<T, Status> {
        let me = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|e| Status::internal(format!("image task failed: {e}")))?
    }
}

#[tonic::async_trait]
impl ImageService for Images {
    async fn list_images(&self, r: Request<ListImagesRequest>) -> R<ListImagesResponse> {
        let f = r.into_inner().filter.and_then(|f| f.image);
        let images = self.blocking(move |c| c.list_images(f)).await?;
        Ok(Response::new(ListImagesResponse { images }))
    }

    async fn image_status(&self, r: Request<ImageStatusRequest>) -> R<ImageStatusResponse> {
        let r = r.into_inner();
        let key = r.image.map(|s| s.image).unwrap_or_default();
        if key.is_empty() {
            return Err(crate::status::invalid("ImageStatus: no image given"));
        }
        let verbose = r.verbose;
        let (image, info) = self
            .blocking(move |c| {
                let img = c.image_status(&key)?;
                let info = if verbose && img.is_some() {
                    c.image_info(&key)
                } else {
                    Default::default()
                };
                Ok((img, info))
            })
            .await?;
        Ok(Response::new(ImageStatusResponse { image, info }))
    }

    async fn pull_image(&self, r: Request<PullImageRequest>) -> R<PullImageResponse> {
        let r = r.into_inner();
        let image_ref = self.0.pull_image(r.image, r.auth).await?;
        Ok(Response::new(PullImageResponse { image_ref }))
    }

    async fn remove_image(&self, r: Request<RemoveImageRequest>) -> R<RemoveImageResponse> {
        let spec = r.into_inner().image;
        self.blocking(move |c| c.remove_image(spec)).await?;
        Ok(Response::new(RemoveImageResponse {}))
    }

    async fn image_fs_info(&self, _: Request<ImageFsInfoRequest>) -> R<ImageFsInfoResponse> {
        let fs = self.blocking(|c| Ok(c.image_fs_info())).await?;
        Ok(Response::new(ImageFsInfoResponse {
            image_filesystems: fs.clone(),
            container_filesystems: fs,
        }))
    }
}
