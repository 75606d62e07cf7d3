-- R25: a fresh installation offers a sensible list of close reasons, not one. Only where
-- the list is still the single reason the first migration put there: an installation
-- whose administrator already made their own list keeps it as it is.
INSERT INTO close_reasons (name, position)
SELECT name, position
FROM (VALUES ('Вопрос решён', 1), ('Оформлен заказ', 2), ('Клиент передумал', 3),
             ('Спам или реклама', 4), ('Ошибочное обращение', 5)) AS list (name, position)
WHERE (SELECT count(*) FROM close_reasons) = 1
ON CONFLICT DO NOTHING;
