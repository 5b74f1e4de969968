/** The osimage definitions (both rows) and whether each is ready for nodeset. */
import type { Express } from 'express';
import { readProvenance } from '@imgport/engine';
import { ImgportError } from '@imgport/runtime';
import type { Ctx } from '../context.js';
import { parse } from '../errors.js';
import { imageReadiness } from '@imgport/engine';
import { imagesQuery } from '@imgport/contract';

export function registerImages(app: Express, ctx: Ctx): void {
  const { tables, config } = ctx.deps;

  app.get('/v1/images', async (req, res) => {
    const filter = parse(imagesQuery, req.query, 'query');
    const rows = await tables.listImages(filter);
    const images = await Promise.all(
      rows.map(async ({ osimage, linuximage }) => ({
        name: osimage.imagename,
        osimage,
        linuximage: linuximage ?? null,
        signature: readProvenance(config.dataDir, String(osimage.imagename)) ?? null,
        ...(await imageReadiness(config.installRoot, osimage, linuximage)),
      })),
    );
    res.json({ images });
  });

  app.get('/v1/images/:name', async (req, res) => {
    const name = req.params.name;
    const rec = await tables.getImage(name);
    if (!rec.osimage) throw new ImgportError('IMAGE_NOT_FOUND', `image ${name} not found in the osimage table`, { where: 'image' });
    res.json({
      name,
      osimage: rec.osimage,
      linuximage: rec.linuximage ?? null,
      litefile: rec.litefile,
      signature: readProvenance(config.dataDir, name) ?? null,
      ...(await imageReadiness(config.installRoot, rec.osimage, rec.linuximage)),
    });
  });
}
