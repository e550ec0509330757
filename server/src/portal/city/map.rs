//! The district maps: the city's GeoJSON boundaries projected into SVG paths.

use app::serverfns::city::{FacilityView, MapArea, MapView};

/// Width of every map in SVG user units; the height follows the area's shape.
pub(super) const MAP_WIDTH: f64 = 640.0;

/// A district as stored, with its GeoJSON boundary.
pub(super) struct Area {
    pub(super) district_id: String,
    pub(super) name_en: String,
    pub(super) name_zh: String,
    pub(super) rings: Vec<Vec<(f64, f64)>>,
}

/// The outer rings of a GeoJSON Polygon or MultiPolygon (holes are not drawn: districts
/// have none, and a hole would only hide part of the fill).
pub(super) fn outer_rings(geometry: &serde_json::Value) -> Vec<Vec<(f64, f64)>> {
    let ring = |v: &serde_json::Value| serde_json::from_value::<Vec<(f64, f64)>>(v.clone()).ok();
    match geometry["type"].as_str() {
        Some("Polygon") => ring(&geometry["coordinates"][0]).into_iter().collect(),
        Some("MultiPolygon") => geometry["coordinates"]
            .as_array()
            .map(|polys| polys.iter().filter_map(|p| ring(&p[0])).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Projects lon/lat onto a `MAP_WIDTH`-wide SVG (equirectangular, scaled by the cosine of the
/// middle latitude, which is exact enough at city scale), showing `bbox` (lon/lat) with a margin.
pub(super) struct Projection {
    pub(super) west: f64,
    pub(super) north: f64,
    pub(super) scale: f64,
    pub(super) cos: f64,
    pub(super) height: f64,
}

impl Projection {
    pub(super) fn fit((w, s, e, n): (f64, f64, f64, f64), margin: f64) -> Self {
        let (dx, dy) = ((e - w) * margin, (n - s) * margin);
        let (w, s, e, n) = (w - dx, s - dy, e + dx, n + dy);
        let cos = ((s + n) / 2.0).to_radians().cos();
        let scale = MAP_WIDTH / ((e - w) * cos).max(f64::EPSILON);
        Self { west: w, north: n, scale, cos, height: (n - s) * scale }
    }

    pub(super) fn point(&self, (lon, lat): (f64, f64)) -> (f64, f64) {
        let round = |v: f64| (v * 10.0).round() / 10.0;
        (round((lon - self.west) * self.cos * self.scale), round((self.north - lat) * self.scale))
    }
}

pub(super) fn bbox<'a>(points: impl Iterator<Item = &'a (f64, f64)>) -> Option<(f64, f64, f64, f64)> {
    points.fold(None, |acc, &(x, y)| {
        Some(match acc {
            None => (x, y, x, y),
            Some((w, s, e, n)) => (w.min(x), s.min(y), e.max(x), n.max(y)),
        })
    })
}

/// Draws `areas` framed on `focus` (lon/lat box), with `facilities` inside the frame.
pub(super) fn draw(
    areas: &[Area],
    facilities: &[(String, String, String, String, f64, f64)],
    home: Option<&str>,
    focus: (f64, f64, f64, f64),
    margin: f64,
) -> MapView {
    let p = Projection::fit(focus, margin);
    let areas = areas
        .iter()
        .map(|a| {
            let mut path = String::new();
            for ring in &a.rings {
                for (i, &pt) in ring.iter().enumerate() {
                    let (x, y) = p.point(pt);
                    path.push_str(&format!("{}{x} {y} ", if i == 0 { 'M' } else { 'L' }));
                }
                path.push('Z');
            }
            let all: Vec<(f64, f64)> = a.rings.iter().flatten().copied().collect();
            let n = all.len().max(1) as f64;
            let centre = all.iter().fold((0.0, 0.0), |(x, y), (a, b)| (x + a / n, y + b / n));
            MapArea {
                district_id: a.district_id.clone(),
                name_en: a.name_en.clone(),
                name_zh: a.name_zh.clone(),
                path,
                label: p.point(centre),
                home: home == Some(a.district_id.as_str()),
            }
        })
        .collect();
    let (w, s, e, n) = focus;
    let facilities = facilities
        .iter()
        .filter(|f| (w..=e).contains(&f.4) && (s..=n).contains(&f.5))
        .map(|(facility_id, kind, name_en, name_zh, lon, lat)| FacilityView {
            facility_id: facility_id.clone(),
            kind: kind.clone(),
            name_en: name_en.clone(),
            name_zh: name_zh.clone(),
            at: p.point((*lon, *lat)),
        })
        .collect();
    MapView { width: MAP_WIDTH as u32, height: p.height.round() as u32, areas, facilities }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projection_keeps_north_up_and_the_frame_inside_the_map() {
        let p = Projection::fit((121.40, 31.20, 121.52, 31.28), 0.0);
        assert_eq!(p.point((121.40, 31.28)), (0.0, 0.0), "north-west corner at the origin");
        let (x, y) = p.point((121.52, 31.20));
        assert!((x - MAP_WIDTH).abs() < 0.2, "east edge at the map's width, got {x}");
        assert!(y > 0.0 && (y - p.height).abs() < 0.2, "south edge at the bottom, got {y}");
    }

    #[test]
    fn multipolygons_draw_every_part_and_bad_geometry_draws_nothing() {
        let multi = serde_json::json!({"type": "MultiPolygon", "coordinates": [
            [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]],
            [[[2.0, 2.0], [3.0, 2.0], [3.0, 3.0], [2.0, 2.0]]]
        ]});
        assert_eq!(outer_rings(&multi).len(), 2);
        assert!(outer_rings(&serde_json::json!({"type": "Point", "coordinates": [0.0, 0.0]})).is_empty());
        assert!(outer_rings(&serde_json::json!({"type": "Polygon", "coordinates": "x"})).is_empty());
    }
}
