-- Who announced each call and recall (docs/rules/clinic.md, "Statistics": calls per attendant). The step's
-- attendant is not enough: a recall may be pressed by another desk, and a ticket requeued after a logout loses
-- its attendant while its calls stay in the TV's history.
-- depends: 0019_cpu_cost

ALTER TABLE calls ADD COLUMN called_by uuid REFERENCES users (id) ON DELETE SET NULL;

-- Calls made before this column existed: the step's attendant is the best record there is (NULL when the step
-- was requeued since).
UPDATE calls c SET called_by = a.attendant_id
FROM attendances a
WHERE a.id = c.attendance_id AND a.attendant_id IS NOT NULL;
